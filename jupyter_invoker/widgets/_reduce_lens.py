"""The logit lens: every decoder layer's output read through the final norm and the
unembedding, reduced to top-k tokens and trajectories (no IPython, no plotly).

    lens = find_lens(model.hf_model)               # layers / final norm / unembedding
    data = logit_lens(run, lens, top_k=5)
    data.top_ids[layer, pos, rank], data.top_probs[layer, pos, rank]
    data.trajectories[pos, rank, layer]            # p(final top-k token) at every layer
    data.tracked[layer, pos, t]                    # p(track[t]) when tokens are tracked
    other = logit_lens(run_b, lens, gather=data.top_ids)
    other.gathered[layer, pos, rank]               # run B's p of run A's top-k tokens

Axes: ``layer`` indexes the decoder layers (the output of layer ``i``); ``pos`` the
positions of ``data.positions`` (absolute token positions). Probabilities are the
softmax over the whole vocabulary, computed one layer at a time so memory stays at
one ``(positions, vocab)`` block.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..exceptions import ViewError
from ._capture import PromptRecord
from ._reduce import complete_family, window

__all__ = [
    "LAYOUTS",
    "MAX_LENS_CELLS",
    "Lens",
    "LensData",
    "LensWindow",
    "find_lens",
    "lens_window",
    "logit_lens",
]

# Layer × position cells of one logit lens: each costs a pass over the unembedding
# (vocab × width multiply-adds) and ~100 bytes of top-k hover; 512 keeps the first view
# of the default model (30 layers → the last 17 positions) under a second on 2 cores.
MAX_LENS_CELLS = 512

# model_type -> (decoder layers, final norm, unembedding), as module paths.
LAYOUTS: dict[str, tuple[str, str, str]] = {
    "llama": ("model.layers", "model.norm", "lm_head"),
    "mistral": ("model.layers", "model.norm", "lm_head"),
    "qwen2": ("model.layers", "model.norm", "lm_head"),
    "qwen3": ("model.layers", "model.norm", "lm_head"),
    "gemma": ("model.layers", "model.norm", "lm_head"),
    "olmo2": ("model.layers", "model.norm", "lm_head"),
    "phi": ("model.layers", "model.final_layernorm", "lm_head"),
    "gpt2": ("transformer.h", "transformer.ln_f", "lm_head"),
    "gptj": ("transformer.h", "transformer.ln_f", "lm_head"),
    "gpt_neox": ("gpt_neox.layers", "gpt_neox.final_layer_norm", "lm_head"),
    "gpt_neox (transformers 4)": ("gpt_neox.layers", "gpt_neox.final_layer_norm", "embed_out"),
}


@dataclass
class Lens:
    """Where the logit lens reads: the decoder layers and the two modules applied after."""

    layers: str
    norm_path: str
    head_path: str
    norm: Any
    head: Any


def _module(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def find_lens(hf_model: Any) -> Lens:
    """The final norm and unembedding of ``hf_model`` (Llama/SmolLM2, Mistral, Qwen2,
    Gemma, Phi, GPT-2, GPT-J, GPT-NeoX); a clear error naming what is missing otherwise."""
    model_type = str(getattr(getattr(hf_model, "config", None), "model_type", "") or "")
    # The model's own layout first, then any other that fits its module tree.
    candidates = ([LAYOUTS[model_type]] if model_type in LAYOUTS else []) + list(LAYOUTS.values())
    missing: list[str] = []
    for layers, norm_path, head_path in dict.fromkeys(candidates):
        parts = {p: _module(hf_model, p) for p in (layers, norm_path, head_path)}
        if all(v is not None for v in parts.values()):
            return Lens(layers, norm_path, head_path, parts[norm_path], parts[head_path])
        missing.append(
            f"{layers} / {norm_path} / {head_path} (no {', '.join(p for p, v in parts.items() if v is None)})"
        )
    raise ViewError(
        f"The logit lens does not know where the final norm and the unembedding of a "
        f"{type(hf_model).__name__} (model_type {model_type!r}) are. Tried: "
        + "; ".join(missing)
        + ". Use view='residual' or view='module' for this model, or add its layout to "
        "jupyter_invoker.widgets.LAYOUTS[model_type] = (layers, final norm, unembedding)."
    )


def _vocab_size(head: Any) -> int:
    weight = getattr(head, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    out = getattr(head, "out_features", None)
    if out is None and isinstance(head, torch.nn.Sequential):
        return _vocab_size(head[-1])
    return int(out or 50_000)


@dataclass
class LensData:
    """The reduced logit lens of one run at one step; see the module docstring for axes."""

    layers: list[int]
    positions: list[int]
    top_ids: np.ndarray  # (layer, pos, k) int64
    top_probs: np.ndarray  # (layer, pos, k) float32
    trajectories: np.ndarray  # (pos, k, layer) float32: p(final-layer top-k) per layer
    track: list[int] = field(default_factory=list)
    tracked: np.ndarray | None = None  # (layer, pos, len(track)) float32
    gathered: np.ndarray | None = None  # (layer, pos, n) float32: p of the ``gather`` ids
    notes: list[str] = field(default_factory=list)
    steps: list[int] | None = None  # the generation steps covered (None: every saved one)

    def top(self, k: int) -> LensData:
        """The same lens with its top ``k`` tokens only (``k`` at most the computed top-k):
        a lens computed once with the largest top-k serves every smaller one."""
        return dataclasses.replace(
            self,
            top_ids=self.top_ids[..., :k],
            top_probs=self.top_probs[..., :k],
            trajectories=self.trajectories[:, :k],
            gathered=None if self.gathered is None else self.gathered[..., :k],
        )


@dataclass(frozen=True)
class LensWindow:
    """Which cells a logit lens computes: the layers (after striding), the steps they
    cover, and the window of positions. Equal windows give equal lenses."""

    members: tuple[tuple[int, str], ...]
    steps: tuple[int, ...]
    positions: tuple[int, ...]
    notes: tuple[str, ...]


def lens_window(
    run: PromptRecord,
    lens: Lens,
    *,
    upto: int | None = None,
    max_cells: int = MAX_LENS_CELLS,
    focus: int | None = None,
    step: int | None = None,
) -> LensWindow:
    """The cells :func:`logit_lens` computes for these options (cheap: no tensor work)."""
    members, steps = complete_family(run, lens.layers, step)
    positions = run.positions(members[0][1], upto, steps=steps)
    notes: list[str] = []
    shortest = min(len(positions), 8)
    if len(members) * shortest > max_cells:
        stride = -(-len(members) * shortest // max_cells)
        kept = members[::-1][::stride][::-1]  # the last layer is always kept
        notes.append(f"one layer in {stride} ({len(kept)} of {len(members)} layers)")
        members = kept
    cut, note = window(positions, max(1, max_cells // len(members)), focus=focus)
    if note:
        notes.append(note)
    return LensWindow(tuple(members), tuple(steps), tuple(positions[cut]), tuple(notes))


@torch.no_grad()
def logit_lens(
    run: PromptRecord,
    lens: Lens,
    *,
    top_k: int = 5,
    upto: int | None = None,
    max_cells: int = MAX_LENS_CELLS,
    focus: int | None = None,
    track: list[int] | None = None,
    step: int | None = None,
    gather: np.ndarray | None = None,
) -> LensData:
    """Top-k tokens and probabilities of every decoder layer at every position.

    At most ``max_cells`` layer × position cells are computed: the positions are cut
    to a window ending at ``focus`` (default: the last), then layers are strided, and
    ``notes`` says so. ``track``: token ids whose probability is kept everywhere.
    ``step``: the layers saved at that step, over the steps that saved all of them
    (``complete_family``; default: the step that saved the most layers). ``gather``:
    token ids ``(layer, pos, n)`` whose probabilities to keep (another run's top-k, for
    a difference); its layers and positions must be the ones this run's lens covers.
    """
    cells = lens_window(run, lens, upto=upto, max_cells=max_cells, focus=focus, step=step)
    members, steps = list(cells.members), list(cells.steps)
    positions, notes = list(cells.positions), list(cells.notes)
    weight = getattr(lens.head, "weight", None)
    device = weight.device if weight is not None else torch.device("cpu")
    dtype = weight.dtype if weight is not None else torch.float32
    track_ids = torch.tensor(list(track or []), dtype=torch.long, device=device)
    gather_ids = None
    if gather is not None:
        if tuple(gather.shape[:2]) != (len(members), len(positions)):
            raise ViewError(
                f"{run.label} covers {len(members)} layers × {len(positions)} positions "
                f"here, the other run {gather.shape[0]} × {gather.shape[1]}: a difference "
                "needs two runs of the same length (same prompt length and saved steps)."
            )
        gather_ids = torch.from_numpy(np.asarray(gather, dtype=np.int64)).to(device)

    span = (positions[0], positions[-1])
    hidden = torch.stack(
        [run.activation(path, upto, steps=steps, between=span)[0] for _, path in members]
    )

    def read(block: torch.Tensor) -> torch.Tensor:  # (..., pos, d) -> probabilities
        logits = lens.head(lens.norm(block.to(device=device, dtype=dtype))).float()
        return torch.softmax(logits, dim=-1)

    vocab = _vocab_size(lens.head)
    # Layers go through the unembedding in blocks of ~16M logits: one pass over the
    # weights per block instead of one per layer, and bounded memory. The last block
    # goes first: its last layer picks the tokens whose trajectories are kept.
    per_block = max(1, (1 << 24) // max(1, len(positions) * vocab))
    starts = list(range(0, len(members), per_block))[::-1]
    top_ids: list[torch.Tensor] = []
    top_probs: list[torch.Tensor] = []
    tracked: list[torch.Tensor] = []
    gathered: list[torch.Tensor] = []
    trajectories: list[torch.Tensor] = []
    final_ids: torch.Tensor | None = None
    for start in starts:
        probs = read(hidden[start : start + per_block])  # (layers, pos, vocab)
        values, ids = probs.topk(top_k, dim=-1)
        if final_ids is None:
            final_ids = ids[-1]  # (pos, k)
        top_ids.insert(0, ids.cpu())
        top_probs.insert(0, values.cpu())
        index = final_ids.unsqueeze(0).expand(probs.shape[0], -1, -1)
        trajectories.insert(0, probs.gather(2, index).cpu())  # (layers, pos, k)
        if len(track_ids):
            tracked.insert(0, probs[..., track_ids].cpu())
        if gather_ids is not None:
            gathered.insert(0, probs.gather(2, gather_ids[start : start + per_block]).cpu())
    return LensData(
        layers=[i for i, _ in members],
        positions=positions,
        top_ids=torch.cat(top_ids).numpy(),
        top_probs=torch.cat(top_probs).numpy().astype(np.float32),
        trajectories=torch.cat(trajectories).permute(1, 2, 0).numpy().astype(np.float32),
        track=list(track or []),
        tracked=torch.cat(tracked).numpy().astype(np.float32) if tracked else None,
        gathered=torch.cat(gathered).numpy().astype(np.float32) if gathered else None,
        notes=notes,
        steps=steps,
    )
