"""The model's own next-token predictions: saved logits -> top-k tokens per position
(no IPython, no plotly).

    data = top_tokens(run, "lm_head", top_k=5)
    data.ids[pos, rank], data.probs[pos, rank]    # softmax over the whole vocabulary

Axes: ``pos`` indexes ``data.positions`` (absolute token positions: the prompt, then
one per generation step), ``rank`` the top-k. The prediction at position ``p`` is for
the token at ``p + 1``: under greedy decoding, the top-1 at the prompt's last position
is the first generated token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._capture import PromptRecord
from ._reduce import MAX_TOKENS, window

__all__ = ["TokenData", "top_tokens"]

_CHUNK = 64  # positions per softmax: memory stays at 64 × vocab floats


@dataclass
class TokenData:
    """Top-k next tokens at each position; see the module docstring for axes."""

    path: str
    positions: list[int]
    ids: np.ndarray  # (pos, k) int64
    probs: np.ndarray  # (pos, k) float32
    notes: list[str] = field(default_factory=list)
    steps: list[int] | None = None


@torch.no_grad()
def top_tokens(
    run: PromptRecord,
    path: str,
    *,
    top_k: int = 5,
    focus: int | None = None,
    max_tokens: int = MAX_TOKENS,
) -> TokenData:
    """Top-k tokens and probabilities of ``path``'s output (logits over the vocabulary)
    at every saved position, in a window of ``max_tokens`` ending at ``focus``."""
    every = run.positions(path)  # no tensor built: the window is cut before joining
    cut, note = window(every, max_tokens, focus=focus)
    shown = every[cut]
    logits, positions = run.activation(path, between=(shown[0], shown[-1]))  # (pos, vocab)
    rows = logits.reshape(len(positions), -1)
    ids, probs = [], []
    for start in range(0, rows.shape[0], _CHUNK):
        block = torch.softmax(rows[start : start + _CHUNK].float(), dim=-1)
        values, indices = block.topk(min(top_k, block.shape[-1]), dim=-1)
        ids.append(indices)
        probs.append(values)
    notes = [f"softmax over {rows.shape[-1]} tokens, top-{top_k}"] + ([note] if note else [])
    return TokenData(
        path=path,
        positions=positions,
        ids=torch.cat(ids).numpy(),
        probs=torch.cat(probs).numpy().astype(np.float32),
        notes=notes,
        steps=[s for s in run.step_list if path in run.steps[s]],
    )
