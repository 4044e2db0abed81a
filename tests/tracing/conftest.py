"""Fixtures: the real default model (session-wide) and tiny random models for speed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from _shared import hooks_left, live_greenlets

from jupyter_invoker import LanguageModel


@pytest.fixture(scope="session")
def tiny_llama(model: LanguageModel) -> LanguageModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(model.tokenizer), hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=128, pad_token_id=model.tokenizer.pad_token_id,
    )  # fmt: skip
    return LanguageModel(LlamaForCausalLM(config), tokenizer=model.tokenizer)


@pytest.fixture
def clean_after(model: LanguageModel) -> Iterator[dict[str, Any]]:
    """Asserts the model is left exactly as found: no hooks, greenlets, threads, context."""
    before = {"threads": threading.active_count(), "greenlets": live_greenlets()}
    yield before
    assert hooks_left(model) == []
    assert model._active_generator is None
    assert threading.active_count() == before["threads"]
    assert live_greenlets() <= before["greenlets"]
