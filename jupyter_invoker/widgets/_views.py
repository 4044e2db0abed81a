"""One view of a capture: which reduction, with which options, as one plotly figure.

    spec = ViewSpec(view="logit_lens", invoke=0, step=None, top_k=5)
    fig = build(capture, spec)          # a go.Figure, bounded in size

Views: ``logit_lens`` (layer × token), ``residual_norm`` (layer × token),
``module`` (token × unit of ``spec.module``), ``family`` (layer × token summary of a
pattern such as ``model.layers.*.mlp``) and ``attention`` (query × key of
``spec.layer``). Every view of a generate run carries its step slider.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from ..exceptions import ViewError
from ._figures import (
    attention_figure,
    compare_lens_figure,
    grid_figure,
    lens_figure,
    step_views,
)
from ._reduce import family_paths, family_summary, layer_family, module_output, residual_norm
from ._reduce_attention import attention, attention_family
from ._reduce_lens import MAX_LENS_CELLS, find_lens, logit_lens
from ._source import Capture, Run

__all__ = [
    "VIEWS",
    "ViewSpec",
    "attention_available",
    "build",
    "default_module",
    "default_view",
    "family_choices",
    "module_choices",
    "normalize_view",
]

VIEWS = ("logit_lens", "residual_norm", "module", "family", "attention")
_ALIASES = {"lens": "logit_lens", "logit lens": "logit_lens", "residual": "residual_norm",
            "norm": "residual_norm", "module_output": "module", "attn": "attention",
            "steps": "logit_lens"}  # fmt: skip


@dataclass(frozen=True)
class ViewSpec:
    """What to show. ``invoke``: index into the prompts that saved something
    (``show(invoke=n)`` maps generator invoke ``n`` onto it); ``step=None``: the last
    saved step (the slider covers the others);
    ``position=None``: the last token; ``track``: a token (text) whose probability the
    logit lens follows across layers."""

    view: str = "logit_lens"
    invoke: int = 0
    step: int | None = None
    module: str | None = None
    position: int | None = None
    top_k: int = 5
    layer: int | None = None
    head: int | None = None
    track: str | None = None
    max_cells: int = MAX_LENS_CELLS
    compare: tuple[int, ...] = ()  # more prompts whose logit lens goes side by side

    def replace(self, **changes: Any) -> ViewSpec:
        return dataclasses.replace(self, **changes)


def normalize_view(view: str | None) -> str | None:
    if view is None:
        return None
    name = _ALIASES.get(view.strip().lower(), view.strip().lower())
    if name not in VIEWS:
        raise ViewError(f"Unknown view {view!r}: pick one of {', '.join(VIEWS)}.")
    return name


def default_view(capture: Capture) -> str:
    """The logit lens when the model and its layers are there, else the residual norm,
    else the first saved module."""
    run = capture.runs[0]
    try:
        layer_family(run)
    except ViewError:
        return "module"
    if capture.model is not None:
        try:
            find_lens(capture.model.hf_model)
            return "logit_lens"
        except ViewError:
            pass
    return "residual_norm"


def module_choices(run: Run) -> list[str]:
    return run.paths()


def default_module(run: Run) -> str:
    """The last decoder layer's MLP when it was saved, else the last saved module."""
    paths = run.paths()
    try:
        last = family_paths(run, layer_family(run))[-1][1]
    except ViewError:
        return paths[-1]
    return f"{last}.mlp" if f"{last}.mlp" in paths else last


def family_choices(run: Run) -> list[str]:
    """``model.layers.*.mlp``-style patterns of the saved numbered families."""
    try:
        layers = layer_family(run)
    except ViewError:
        return []
    tails: dict[str, None] = {"": None}
    prefix = layers + "."
    for path in run.paths():
        if path.startswith(prefix):
            _, _, rest = path[len(prefix) :].partition(".")
            tails.setdefault(rest, None)
    return [f"{layers}.*" + (f".{t}" if t else "") for t in tails]


def _step(run: Run, step: int | None) -> int | None:
    if step is None:
        return None
    if step not in run.steps:
        raise ViewError(
            f"Step {step} was not saved for {run.label} (saved steps: {run.step_list})."
        )
    return step


def build(capture: Capture, spec: ViewSpec) -> go.Figure:
    """The figure of ``spec``; the slider starts at ``spec.step`` and goes to the last step."""
    run = capture.run(spec.invoke)
    view = normalize_view(spec.view) or default_view(capture)
    step = _step(run, spec.step)
    active = run.step_list.index(step) if step is not None else None
    if view == "logit_lens":
        if capture.model is None:
            raise ViewError(
                "The logit lens needs the model's final norm and unembedding, and a plain dict "
                "of tensors has no model: show the traced Generator (jupyter_invoker."
                "show(generator)), or pick view='residual_norm' or view='module'."
            )
        lens = find_lens(capture.model.hf_model)
        tokenizer = capture.model.tokenizer
        track = []
        if spec.track:
            track = list(tokenizer(spec.track, add_special_tokens=False).input_ids[:1])
            if not track:
                raise ViewError(f"track={spec.track!r} is no token of this model's vocabulary.")
        data = logit_lens(run, lens, top_k=spec.top_k, max_cells=spec.max_cells,
                          focus=spec.position, track=track)  # fmt: skip

        def decode(ids: list[int]) -> list[str]:
            return [str(t) for t in tokenizer.batch_decode([[i] for i in ids])]

        if spec.compare:
            others = [capture.run(i) for i in spec.compare]
            pairs = [(data, run)] + [
                (
                    logit_lens(
                        r, lens, top_k=spec.top_k, max_cells=spec.max_cells, focus=spec.position
                    ),
                    r,
                )
                for r in others
            ]
            return compare_lens_figure(pairs, decode, lens)
        title = f"Logit lens · {lens.layers}.* → {lens.norm_path} → {lens.head_path}"
        views = step_views(run, data.positions, title)
        return lens_figure(data, run, decode, lens, views, active=active, focus=spec.position)
    if view == "attention":
        data_a = attention(run, layer=spec.layer, head=spec.head)
        title = f"Attention · {data_a.path} · layer {data_a.layer}"
        return attention_figure(
            data_a, run, step_views(run, data_a.positions, title), active=active
        )
    if view == "residual_norm":
        grid = residual_norm(run)
    elif view == "family":
        pattern = spec.module or f"{layer_family(run)}.*.mlp"
        if "*" not in pattern:
            raise ViewError(f"family needs a pattern with * for the layer number, not {pattern!r}.")
        family_paths(run, pattern)
        grid = family_summary(run, pattern)
    else:
        path = spec.module or default_module(run)
        if path.endswith(".output"):
            path = path[: -len(".output")]
        grid = module_output(run, path)
    return grid_figure(grid, step_views(run, grid.positions, grid.title), active=active)


def attention_available(run: Run) -> bool:
    try:
        attention_family(run)
    except ViewError:
        return False
    return True
