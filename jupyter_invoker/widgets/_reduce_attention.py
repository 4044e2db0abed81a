"""Attention patterns: query × key weights of one layer, per head (no IPython, no plotly).

    data = attention(run, layer=3)        # every head of layer 3 when they fit
    data.weights[head, query, key]        # float32; NaN where a key is in the future
    data.heads, data.positions, data.notes

Axes: ``head`` indexes ``data.heads``; ``query`` and ``key`` both index
``data.positions`` (absolute token positions: the prompt, then one per generation
step). Weights exist only when the run kept them: eager attention and
``output_attentions=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..exceptions import ViewError
from ._capture import PromptRecord
from ._reduce import family_paths, layer_family, window

__all__ = [
    "ATTENTION_NAMES",
    "MAX_ATTENTION_CELLS",
    "MAX_ATTENTION_TOKENS",
    "AttentionData",
    "attention",
    "attention_family",
    "attention_heads",
    "attention_layers",
]

ATTENTION_NAMES = ("self_attn", "attn", "attention")
MAX_ATTENTION_CELLS = 120_000  # heads × queries × keys in one figure (~640 KB as float32)
MAX_ATTENTION_TOKENS = 256

_HOW = (
    "Attention weights are kept only by eager attention (the default sdpa kernel never "
    "forms them): load the model with LanguageModel(..., attn_implementation='eager') "
    "(or call model.hf_model.set_attn_implementation('eager') before the run) and save "
    "the attention modules (invoker.save_all())."
)


@dataclass
class AttentionData:
    """Query × key weights of one layer; see the module docstring for axes."""

    layer: int
    path: str
    heads: list[int]
    positions: list[int]
    weights: np.ndarray  # (head, query, key) float32
    n_heads: int = 0
    notes: list[str] = field(default_factory=list)


def attention_family(run: PromptRecord) -> str:
    """``model.layers.*.self_attn`` style pattern of the saved attention modules."""
    layers = layer_family(run)
    for name in ATTENTION_NAMES:
        pattern = f"{layers}.*.{name}"
        try:
            family_paths(run, pattern)
        except ViewError:
            continue
        return pattern
    raise ViewError(f"No attention module of {layers}.* was saved in {run.label}. {_HOW}")


def _weights(value: object) -> torch.Tensor | None:
    if isinstance(value, (tuple, list)) and len(value) > 1:
        item = value[1]
        if isinstance(item, torch.Tensor) and item.dim() == 4:
            return item
    return None


def attention(
    run: PromptRecord,
    *,
    layer: int | None = None,
    head: int | None = None,
    upto: int | None = None,
    max_cells: int = MAX_ATTENTION_CELLS,
    max_tokens: int = MAX_ATTENTION_TOKENS,
    focus: int | None = None,
) -> AttentionData:
    """Weights of ``layer`` (default: the last) over the saved steps ``<= upto``, in a
    window of ``max_tokens`` queries and keys ending at ``focus`` (default: the last);
    every head when ``heads × positions²`` fits in ``max_cells``, else ``head``
    (default 0)."""
    members = dict(family_paths(run, attention_family(run)))
    index = max(members) if layer is None else layer
    if index not in members:
        raise ViewError(f"Layer {layer} has no saved attention module (saved: {sorted(members)}).")
    path = members[index]
    last = run.step_list[-1] if upto is None else upto
    rows: dict[int, torch.Tensor] = {}  # absolute query position -> (heads, keys)
    for step in run.step_list:
        if step > last or path not in run.steps[step]:
            continue
        weights = _weights(run.steps[step][path])
        if weights is None:
            raise ViewError(f"{path} kept no attention weights at step {step}. {_HOW}")
        w = weights[min(run.row, weights.shape[0] - 1)].detach().float().cpu()  # (heads, q, k)
        w = w[:, :, run.pad :] if w.shape[-1] > run.pad else w
        if step == 0:
            w = w[:, -run.n_prompt :]
            for q in range(w.shape[1]):
                rows[run.n_prompt - w.shape[1] + q] = w[:, q]
        else:
            rows[run.step_position(step)] = w[:, -1]
    if not rows:
        raise ViewError(f"{path} was not saved at any step <= {last} of {run.label}. {_HOW}")
    positions = sorted(rows)
    notes: list[str] = []
    # before the matrix: only the window is built
    cut, note = window(positions, max_tokens, focus=focus)
    if note:
        notes.append(note + " for queries and keys")
        positions = positions[cut]
    n_heads = next(iter(rows.values())).shape[0]
    heads = list(range(n_heads))
    if n_heads * len(positions) ** 2 > max_cells:
        chosen = 0 if head is None else head
        heads = [chosen]
        notes.append(f"head {chosen} of {n_heads} (pick another with head=)")
    elif head is not None:
        heads = [head]
    if any(h < 0 or h >= n_heads for h in heads):
        raise ViewError(f"head={head} does not exist: layer {index} has {n_heads} heads.")
    # only the heads shown: query × key, NaN where a key comes after its query
    shown = np.full((len(heads), len(positions), len(positions)), np.nan, dtype=np.float32)
    at = np.asarray(positions)
    for i, p in enumerate(positions):
        keys = rows[p][heads].numpy()  # key index = absolute position (left padding dropped)
        cols = (at <= p) & (at < keys.shape[1])
        shown[:, i, cols] = keys[:, at[cols]]
    return AttentionData(
        layer=index,
        path=path,
        heads=heads,
        positions=positions,
        weights=shown,
        n_heads=n_heads,
        notes=notes,
    )


def attention_layers(run: PromptRecord) -> list[int]:
    """The layer numbers whose attention module was saved."""
    return [index for index, _ in family_paths(run, attention_family(run))]


def attention_heads(run: PromptRecord, layer: int | None = None) -> int:
    """How many heads the saved weights of ``layer`` (default: the last) have (0 when
    none were kept)."""
    members = dict(family_paths(run, attention_family(run)))
    path = members[max(members) if layer is None or layer not in members else layer]
    for step in run.step_list:
        weights = _weights(run.steps[step].get(path))
        if weights is not None:
            return int(weights.shape[1])
    return 0
