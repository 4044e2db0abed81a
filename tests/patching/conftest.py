"""Fixtures: the factual-recall pair on the default model, and patching by hand.

def test_x(model, by_hand, reference):
    value = by_hand("mlp", layer=3, index=5)   # one site patched in `trace` contexts
    reference.normalized(value)                  # the default metric, from plain runs
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from _shared import hooks_left

from jupyter_invoker import LanguageModel

CLEAN = "The Eiffel Tower is in the city of"
CORRUPT = "The Colosseum is in the city of"  # 9 tokens, like CLEAN
HEAD_DIM = 64


@dataclass
class Reference:
    """The default metric's ingredients, from plain forwards of the HF model."""

    clean: torch.Tensor  # (vocab,), final position
    corrupt: torch.Tensor
    answer: int
    wrong: int

    def difference(self, logits: torch.Tensor) -> float:
        return float(logits[self.answer] - logits[self.wrong])

    def normalized(self, logits: torch.Tensor) -> float:
        low, high = self.difference(self.corrupt), self.difference(self.clean)
        return (self.difference(logits) - low) / (high - low)


def plain_logits(model: LanguageModel, prompt: str) -> torch.Tensor:
    ids = model.tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        return model.hf_model(input_ids=ids, use_cache=False).logits[0, -1]


@pytest.fixture(scope="session")
def reference(model: LanguageModel) -> Reference:
    clean, corrupt = plain_logits(model, CLEAN), plain_logits(model, CORRUPT)
    return Reference(clean, corrupt, int(clean.argmax()), int(corrupt.argmax()))


def _site(model: LanguageModel, site: str, layer: int) -> Any:
    block = model.model.layers[layer]
    if site == "resid":
        return block.output
    if site == "attn":
        return block.self_attn.output[0]
    if site == "mlp":
        return block.mlp.output
    return block.self_attn.o_proj.input


@pytest.fixture
def by_hand(model: LanguageModel) -> Callable[..., torch.Tensor]:
    """The final logits of the corrupted run with one site restored from the clean run,
    written as a user would: two ``trace`` contexts and an in-place edit."""

    def run(site: str, layer: int, index: int) -> torch.Tensor:
        with model.trace(CLEAN):
            source = _site(model, site, layer).save()
        with model.trace(CORRUPT):
            target = _site(model, site, layer)
            if site == "heads":
                cut = slice(index * HEAD_DIM, (index + 1) * HEAD_DIM)
                target[:, :, cut] = source[:, :, cut]
            else:
                target[:, index] = source[:, index]
            logits = model.lm_head.output[0, -1].save()
        return logits

    return run


@pytest.fixture
def leaves_nothing(model: LanguageModel) -> Iterator[None]:
    """The model has no hook, stub or wrapper left after the test."""
    yield
    assert hooks_left(model) == []
    assert model._active_generator is None
