"""The two prompts of a patching run and the metric it measures.

    pair = prepare_pair(model, "The Eiffel Tower is in the city of",
                               "The Colosseum is in the city of")   # same token count
    metric = logit_difference(model, clean_logits, corrupt_logits)  # 0 corrupt, 1 clean
    values = evaluate(metric, logits)                               # (rows,) checked

A metric takes the final position's logits ``(rows, vocab)`` and returns one number
per row ``(rows,)``. The default one is the logit difference between the clean answer
and the corrupt one, normalized so the corrupted run scores 0 and the clean run 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..exceptions import InvalidInputError, PatchingError
from ..tracing._inputs import prepare_input

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["LogitDifference", "Metric", "Pair", "evaluate", "logit_difference", "prepare_pair"]

Metric = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Pair:
    """A clean and a corrupted prompt of the same token length, one row each."""

    clean: torch.Tensor  # (1, pos) token ids
    corrupt: torch.Tensor  # (1, pos)
    tokens: list[str]  # the clean prompt's tokens, decoded one by one
    corrupt_tokens: list[str]

    @property
    def length(self) -> int:
        return int(self.clean.shape[-1])


def prepare_pair(lm: LanguageModel, clean: Any, corrupt: Any) -> Pair:
    """Tokenize both prompts (strings, token ids or chat messages) and check their lengths."""
    ids = {}
    for name, value in (("clean", clean), ("corrupt", corrupt)):
        try:
            prepared = prepare_input(lm, value)
        except InvalidInputError as exc:
            raise PatchingError(f"The {name} prompt cannot be used: {exc}") from exc
        if prepared.input_ids.shape[0] != 1:
            raise PatchingError(
                f"The {name} prompt is a batch of {prepared.input_ids.shape[0]} prompts; "
                "patching compares one clean prompt with one corrupted prompt."
            )
        ids[name] = prepared.input_ids
    tokens = {name: decode_each(lm, row) for name, row in ids.items()}
    if ids["clean"].shape[-1] != ids["corrupt"].shape[-1]:
        raise PatchingError(
            f"The clean and corrupt prompts must have the same number of tokens, because "
            f"patching restores each position from the same position of the other run: the "
            f"clean prompt has {ids['clean'].shape[-1]} {tokens['clean']}, the corrupt one "
            f"{ids['corrupt'].shape[-1]} {tokens['corrupt']}. Reword one of them (for a "
            "landmark, pick one whose name has as many tokens)."
        )
    return Pair(ids["clean"], ids["corrupt"], tokens["clean"], tokens["corrupt"])


def decode_each(lm: LanguageModel, ids: torch.Tensor) -> list[str]:
    return [str(lm.tokenizer.decode([int(i)])) for i in ids.reshape(-1)]


@dataclass(frozen=True)
class LogitDifference:
    """``(logit[answer] - logit[wrong] - corrupt) / (clean - corrupt)`` per row."""

    answer: int
    wrong: int
    answer_text: str
    wrong_text: str
    clean: float  # the clean run's raw logit difference
    corrupt: float  # the corrupted run's

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        raw = logits[:, self.answer] - logits[:, self.wrong]
        return (raw - self.corrupt) / (self.clean - self.corrupt)

    @property
    def name(self) -> str:
        return f"logit difference {self.answer_text!r} − {self.wrong_text!r}, normalized"


def token_id(lm: LanguageModel, value: str | int, role: str) -> int:
    """A single token: an id, or a string that is exactly one token."""
    vocab = lm.hf_model.get_input_embeddings().num_embeddings
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < vocab:
            raise PatchingError(f"{role}={value} is not a token id of this model (0..{vocab - 1}).")
        return value
    if not isinstance(value, str) or not value:
        raise PatchingError(
            f"{role} is a token (a non-empty string such as ' Paris') or a token id."
        )
    ids = lm.tokenizer(value, add_special_tokens=False).input_ids
    if len(ids) != 1:
        pieces = [str(lm.tokenizer.decode([i])) for i in ids]
        raise PatchingError(
            f"{role}={value!r} is {len(ids)} tokens {pieces}, and the metric compares the "
            f"logits of single tokens: pass one token (often with its leading space, "
            f"{pieces[0]!r}) or its id."
        )
    return int(ids[0])


def logit_difference(
    lm: LanguageModel,
    clean_logits: torch.Tensor,
    corrupt_logits: torch.Tensor,
    *,
    answer: str | int | None = None,
    wrong: str | int | None = None,
) -> LogitDifference:
    """The default metric; ``answer``/``wrong`` default to the clean and corrupted runs'
    top-1 tokens. ``*_logits``: the final position's logits, ``(vocab,)``."""
    a = token_id(lm, answer, "answer") if answer is not None else int(clean_logits.argmax())
    w = token_id(lm, wrong, "wrong") if wrong is not None else int(corrupt_logits.argmax())
    texts = {i: str(lm.tokenizer.decode([i])) for i in (a, w)}
    if a == w:
        raise PatchingError(
            f"The answer and the wrong token are the same ({texts[a]!r}): both prompts "
            "predict it, so their logit difference is 0 in both runs. Pass answer= and "
            "wrong= (e.g. answer=' Paris', wrong=' Rome'), or a metric."
        )
    clean = float(clean_logits[a] - clean_logits[w])
    corrupt = float(corrupt_logits[a] - corrupt_logits[w])
    if abs(clean - corrupt) < 1e-6:
        raise PatchingError(
            f"The logit difference {texts[a]!r} − {texts[w]!r} is the same in the clean and "
            f"the corrupted run ({clean:.4g}), so it cannot be normalized: choose tokens the "
            "two prompts disagree on, or pass a metric."
        )
    return LogitDifference(a, w, texts[a], texts[w], clean, corrupt)


def evaluate(metric: Metric, logits: torch.Tensor) -> torch.Tensor:
    """``metric(logits)`` as a float ``(rows,)`` tensor, or a clear error saying what it gave."""
    rows = logits.shape[0]
    value = metric(logits)
    if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[1] == 1:
        value = value[:, 0]
    if not (isinstance(value, torch.Tensor) and tuple(value.shape) == (rows,)):
        got = (
            f"a tensor of shape {tuple(value.shape)}"
            if isinstance(value, torch.Tensor)
            else f"{type(value).__name__} {value!r}"[:80]
        )
        raise PatchingError(
            f"The metric must return one number per row: a tensor of shape ({rows},) for "
            f"logits of shape {tuple(logits.shape)} (rows, vocab); it returned {got}. For "
            "example: lambda logits: logits[:, paris] - logits[:, rome]."
        )
    if not value.is_floating_point():
        value = value.float()
    return value
