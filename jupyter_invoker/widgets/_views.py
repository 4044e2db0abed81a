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
import numbers
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from ..exceptions import ViewError
from ._figures import (
    StepView,
    attention_figure,
    compare_lens_figure,
    grid_figure,
    lens_figure,
    step_views,
)
from ._reduce import family_paths, family_summary, layer_family, module_output, residual_norm
from ._reduce_attention import attention, attention_family
from ._reduce_lens import MAX_LENS_CELLS, find_lens, logit_lens
from ._source import Capture, Run, _decode_all

__all__ = [
    "MAX_TOP_K",
    "OPTIONS",
    "VIEWS",
    "ViewSpec",
    "attention_available",
    "build",
    "default_module",
    "default_view",
    "family_choices",
    "module_choices",
    "normalize_view",
    "resolve",
]

VIEWS = ("logit_lens", "residual_norm", "module", "family", "attention")
_ALIASES = {"lens": "logit_lens", "logit lens": "logit_lens", "residual": "residual_norm",
            "norm": "residual_norm", "module_output": "module", "attn": "attention",
            "steps": "logit_lens"}  # fmt: skip
# The keywords of show() and browser.update().
OPTIONS = ("view", "invoke", "row", "step", "module", "position", "top_k", "layer", "head",
           "track", "max_cells", "compare")  # fmt: skip
MAX_TOP_K = 20  # top-k tokens in the logit lens hover (the top-k control's range)


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
            f"Step {step} was not saved for {run.label} (saved steps: {run.step_list}); "
            f"pass step= one of {run.step_list}."
        )
    return step


def _int(name: str, value: Any, valid: str) -> int | None:
    """``value`` as an int (``None`` stays), or a ViewError naming the valid values."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ViewError(f"{name}={value!r} is a {type(value).__name__}: pass an int, {valid}.")
    return int(value)


def _text(name: str, value: Any, valid: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ViewError(f"{name}={value!r} is a {type(value).__name__}: pass a string, {valid}.")


def resolve(capture: Capture, options: dict[str, Any], base: ViewSpec | None = None) -> ViewSpec:
    """The :class:`ViewSpec` of ``show(**options)`` (``base=None``) or of
    ``browser.update(**options)`` (changes to ``base``), every option checked for type
    and range: a ViewError naming the valid values otherwise. ``invoke`` is a
    ``generator.invoke`` number, ``row`` a row of its batch, ``compare`` invoke numbers."""
    unknown = [name for name in options if name not in OPTIONS]
    if unknown:
        raise ViewError(
            f"Unknown option {', '.join(map(repr, unknown))}: the options are {', '.join(OPTIONS)}."
        )
    spec = base if base is not None else ViewSpec()
    changes: dict[str, Any] = {}
    if "view" in options or base is None:
        view = _text("view", options.get("view"), f"one of {', '.join(VIEWS)} (or None)")
        changes["view"] = normalize_view(view) or default_view(capture)
    if "invoke" in options or "row" in options or base is None:
        invokes = capture.invokes()
        if "invoke" in options or base is None:
            invoke = _int("invoke", options.get("invoke"), f"one of {invokes} (or None)")
        else:
            invoke = capture.run(spec.invoke).invoke
        row = _int("row", options.get("row"), "a row of the invoke's batch (or None for row 0)")
        index = capture.index_of(invoke, row)
        if index != spec.invoke:
            changes["invoke"] = index
            if base is not None and "step" not in options:
                changes["step"] = None
    run = capture.run(changes.get("invoke", spec.invoke))
    if "step" in options:
        changes["step"] = _step(
            run, _int("step", options["step"], f"one of the saved steps {run.step_list}")
        )
    last = len(run.tokens) - 1
    if "position" in options:
        position = _int("position", options["position"], f"a token position 0..{last}")
        if position is not None and not 0 <= position <= last:
            raise ViewError(
                f"position={position} is outside {run.label}: pass 0..{last} (or None for "
                "the last token)."
            )
        changes["position"] = position
    elif spec.position is not None and spec.position > last:
        changes["position"] = None
    if "top_k" in options:
        top_k = _int("top_k", options["top_k"], f"1..{MAX_TOP_K}")
        if top_k is None or not 1 <= top_k <= MAX_TOP_K:
            raise ViewError(f"top_k={top_k!r} is out of range: pass an int from 1 to {MAX_TOP_K}.")
        changes["top_k"] = top_k
    if "max_cells" in options:
        cells = _int("max_cells", options["max_cells"], f"at least 1 (default {MAX_LENS_CELLS})")
        if cells is None or cells < 1:
            raise ViewError(
                f"max_cells={cells!r} is out of range: pass an int of at least 1 "
                f"(default {MAX_LENS_CELLS})."
            )
        changes["max_cells"] = cells
    for name, valid in (("layer", "a decoder layer number (or None for the last)"),
                        ("head", "an attention head number (or None)")):  # fmt: skip
        if name in options:
            number = _int(name, options[name], valid)
            if number is not None and number < 0:
                raise ViewError(f"{name}={number} is negative: pass {valid}.")
            changes[name] = number
    if "module" in options:
        changes["module"] = _text(
            "module", options["module"], "a saved module path such as 'model.layers.3.mlp'"
        )
    if "track" in options:
        changes["track"] = (
            _text("track", options["track"], "a token to follow such as ' Paris'") or None
        )
    if "compare" in options:
        compare = options["compare"]
        items = (
            []
            if compare is None
            else [compare]
            if not isinstance(compare, (list, tuple))
            else list(compare)
        )
        valid = f"invoke numbers from {capture.invokes()}"
        changes["compare"] = tuple(capture.index_of(_int("compare", i, valid)) for i in items)
    return spec.replace(**changes)


def build(capture: Capture, spec: ViewSpec) -> go.Figure:
    """The figure of ``spec``; the slider starts at ``spec.step`` and goes to the last step."""
    run = capture.run(spec.invoke)
    view = normalize_view(spec.view) or default_view(capture)
    step = _step(run, spec.step)
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
                          focus=spec.position, track=track, step=step)  # fmt: skip

        def decode(ids: list[int]) -> list[str]:
            return _decode_all(tokenizer, ids)

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
        views = step_views(run, data.positions, title, steps=data.steps)
        return lens_figure(
            data, run, decode, lens, views, active=_active(views, step), focus=spec.position
        )
    if view == "attention":
        data_a = attention(run, layer=spec.layer, head=spec.head)
        title = f"Attention · {data_a.path} · layer {data_a.layer}"
        views = step_views(run, data_a.positions, title)
        return attention_figure(data_a, run, views, active=_active(views, step))
    if view == "residual_norm":
        grid = residual_norm(run, step=step)
    elif view == "family":
        pattern = spec.module or f"{layer_family(run)}.*.mlp"
        if "*" not in pattern:
            raise ViewError(f"family needs a pattern with * for the layer number, not {pattern!r}.")
        family_paths(run, pattern)
        grid = family_summary(run, pattern, step=step)
    else:
        path = spec.module or default_module(run)
        if path.endswith(".output"):
            path = path[: -len(".output")]
        grid = module_output(run, path)
    views = step_views(run, grid.positions, grid.title, steps=grid.steps)
    return grid_figure(grid, views, active=_active(views, step))


def _active(views: list[StepView], step: int | None) -> int | None:
    """The slider index of ``step`` (None: the last): its view, else the last one before."""
    if step is None or not views:
        return None
    before = [i for i, view in enumerate(views) if view.step <= step]
    return before[-1] if before else 0


def attention_available(run: Run) -> bool:
    try:
        attention_family(run)
    except ViewError:
        return False
    return True
