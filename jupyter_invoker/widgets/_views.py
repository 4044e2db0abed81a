"""One view of a capture as one plotly figure: which reduction, which figure.

    spec = ViewSpec(view="residual_norm", scale="log", diff=1)
    fig = build(capture, spec)          # a go.Figure, bounded in size
    shown_module(capture, spec)         # the module (or pattern) the figure names

Views: ``logit_lens`` (layer × token), ``residual_norm`` (layer × token), ``module``
(token × unit of a saved module), ``family`` (layer × token summary of a pattern such
as ``model.layers.*.mlp``), ``attention`` (query × key of one layer) and
``top_tokens`` (the model's next-token top-k per position, from saved logits). Every
view of a generate run carries its step slider; ``diff`` makes any of them but the
top tokens a difference (run A − run B; ``"step"``: each token − the one before, for
the norm and module views) on one diverging scale.
"""

from __future__ import annotations

import difflib
from typing import Any

import plotly.graph_objects as go

from ..exceptions import ViewError
from ._capture import Capture, PromptRecord, _decode_all, python_path
from ._choose import default_module, default_view, logit_paths
from ._diff import check_same_positions, grid_difference, step_difference
from ._figures import StepView, attention_figure, attention_title, grid_figure, step_views
from ._figures_lens import (
    compare_lens_figure,
    lens_difference_figure,
    lens_figure,
    top_tokens_grid,
)
from ._reduce import (
    Grid,
    family_paths,
    family_summary,
    layer_family,
    module_output,
    residual_norm,
    window_grid,
)
from ._reduce_attention import AttentionData, attention, attention_family
from ._reduce_lens import Lens, LensData, find_lens, lens_window, logit_lens
from ._reduce_tokens import top_tokens
from ._scale import Colours, colour_scale
from ._spec import MAX_TOP_K, STEP_DIFF, ViewSpec, _step, normalize_view

__all__ = [
    "attention_available",
    "build",
    "family_choices",
    "module_choices",
    "run_name",
    "shown_module",
]


_EVERY = 1 << 30  # "no window": a reduction over every position


def module_choices(run: PromptRecord) -> list[str]:
    return run.paths()


def family_choices(run: PromptRecord) -> list[str]:
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


def attention_available(run: PromptRecord) -> bool:
    try:
        attention_family(run)
    except ViewError:
        return False
    return True


def run_name(run: PromptRecord) -> str:
    """A run as a title names it: ``invoke 2`` (``invoke 2 row 1`` in a batch)."""
    return f"invoke {run.invoke}" + (f" row {run.row}" if run.rows > 1 else "")


def shown_module(capture: Capture, spec: ViewSpec) -> str | None:
    """The module path (``module`` view) or pattern (``family``), or the logits path
    (``top_tokens``) that ``build(capture, spec)`` shows: what the module menu says."""
    run = capture.run(spec.invoke)
    view = normalize_view(spec.view)
    if view == "module":
        path = spec.module or default_module(run, capture.model)
        return path[: -len(".output")] if path.endswith(".output") else path
    if view == "family":
        if spec.module:
            return spec.module
        choices = family_choices(run)
        preferred = f"{layer_family(run)}.*.mlp"
        return preferred if preferred in choices else (choices[-1] if choices else None)
    if view == "top_tokens":
        paths = logit_paths(run, capture.model)
        return spec.module if spec.module in paths else (paths[-1] if paths else None)
    return None


def check_module(run: PromptRecord, path: str, model: Any) -> None:
    """A ViewError unless ``path`` was saved in ``run``: for a module of the model that
    was not saved, the line that saves it; for a name the model does not have, the
    closest saved (or existing) module as a "did you mean"."""
    paths = run.paths()
    if path in paths:
        return
    hf_model = getattr(model, "hf_model", None)
    names = [name for name, _ in hf_model.named_modules() if name] if hf_model is not None else []
    save = "with your LanguageModel as model, or invoker.save_all() for every module"
    if path in names:
        raise ViewError(
            f"{path!r} was not saved in {run.label}. Save it inside the invoke block: "
            f"{python_path(path)}.output.save() ({save}); then show the run again."
        )
    close = difflib.get_close_matches(path, paths, n=1, cutoff=0.6) or difflib.get_close_matches(
        path, names, n=1, cutoff=0.6
    )
    where = "The model has" if hf_model is not None else f"{run.label} saved"
    if not close:
        raise ViewError(
            f"{where} no module {path!r}; pass module= one of the saved modules "
            f"({', '.join(paths[:6])}{' ...' if len(paths) > 6 else ''})."
        )
    hint = f"Did you mean {close[0]!r}? Pass module={close[0]!r}"
    if close[0] not in paths:
        hint += f" after saving it ({python_path(close[0])}.output.save(), {save})"
    raise ViewError(f"{where} no module {path!r}. {hint}.")


def _active(views: list[StepView], step: int | None) -> int | None:
    """The slider index of ``step`` (None: the last): its view, else the last one before."""
    if step is None or not views:
        return None
    before = [i for i, view in enumerate(views) if view.step <= step]
    return before[-1] if before else 0


def _decoder(capture: Capture) -> Any:
    tokenizer = capture.model.tokenizer
    return lambda ids: _decode_all(tokenizer, ids)


def _full_lens(
    capture: Capture,
    run: PromptRecord,
    lens: Lens,
    spec: ViewSpec,
    step: int | None,
    track: list[int],
    against: tuple[tuple[Any, ...], LensData] | None = None,
) -> tuple[tuple[Any, ...], LensData]:
    """The lens of ``run`` at the largest top-k, computed once per window (and its cache
    key): scrubbing steps, top-k and back costs no second pass over the unembedding;
    ``.top(k)`` gives any smaller top-k. ``against``: another lens (its key and data),
    whose top tokens' probabilities are gathered here too (a difference view)."""
    options: dict[str, Any] = {"max_cells": spec.max_cells, "focus": spec.position, "step": step}
    cells = lens_window(run, lens, **options)
    gather = None if against is None else against[1].top_ids
    key = ("lens", capture.runs.index(run), cells, tuple(track), against and against[0])
    full = capture.cached(
        key,
        lambda: logit_lens(run, lens, top_k=MAX_TOP_K, track=track, gather=gather, **options),
    )
    return key, full


def _lens(
    capture: Capture,
    run: PromptRecord,
    spec: ViewSpec,
    step: int | None,
    other: PromptRecord | None,
) -> go.Figure:
    if capture.model is None:
        raise ViewError(
            "The logit lens needs the model's final norm and unembedding, and a plain dict "
            "of tensors has no model: show the traced Generator (jupyter_invoker."
            "show(generator)), or pick view='residual_norm' or view='module'."
        )
    if spec.diff == STEP_DIFF:
        raise ViewError(
            "diff='step' applies to the residual norm, family and module views; for the "
            "logit lens, pass diff= another invoke number (run A − run B)."
        )
    lens = find_lens(capture.model.hf_model)
    track: list[int] = []
    if spec.track:
        track = list(capture.model.tokenizer(spec.track, add_special_tokens=False).input_ids[:1])
        if not track:
            raise ViewError(f"track={spec.track!r} is no token of this model's vocabulary.")
    key, full = _full_lens(capture, run, lens, spec, step, track)
    data = full.top(spec.top_k)
    decode = _decoder(capture)
    if spec.compare:
        others = [capture.run(i) for i in spec.compare]
        pairs = [(data, run)] + [
            (_full_lens(capture, r, lens, spec, None, [])[1].top(spec.top_k), r) for r in others
        ]
        return compare_lens_figure(pairs, decode, lens)
    title = f"Logit lens · {lens.layers}.* → {lens.norm_path} → {lens.head_path}"
    views = step_views(run, data.positions, title, steps=data.steps)
    if other is not None:
        b = _full_lens(capture, other, lens, spec, step, [], against=(key, full))[1].top(spec.top_k)
        if b.positions != data.positions or b.layers != data.layers:
            raise ViewError(
                f"{run_name(run)} and {run_name(other)} cover different layers or positions "
                "here: a difference needs runs that saved the same layers and steps."
            )
        a_name, b_name = run_name(run), run_name(other)
        title = f"Logit lens difference {a_name} − {b_name}"
        views = step_views(run, data.positions, title, steps=data.steps)
        return lens_difference_figure(data, b, run, decode, lens, a_name, b_name, views,
                                      active=_active(views, step))  # fmt: skip
    return lens_figure(data, run, decode, lens, views, active=_active(views, step),
                       focus=spec.position)  # fmt: skip


def _attention(
    run: PromptRecord, spec: ViewSpec, step: int | None, other: PromptRecord | None
) -> go.Figure:
    if spec.diff == STEP_DIFF:
        raise ViewError(
            "diff='step' applies to the residual norm, family and module views; for "
            "attention, pass diff= another invoke number (run A − run B)."
        )
    data = attention(run, layer=spec.layer, head=spec.head, focus=spec.position)
    title = attention_title(data)
    signed = False
    if other is not None:
        b = attention(other, layer=data.layer, head=spec.head, focus=spec.position)
        if b.positions != data.positions or b.heads != data.heads:
            raise ViewError(
                f"{run_name(run)} and {run_name(other)} cover different queries here: a "
                "difference needs runs over the same positions."
            )
        data = AttentionData(data.layer, data.path, data.heads, data.positions,
                             data.weights - b.weights, data.n_heads,
                             [*data.notes, f"difference: {run_name(run)} − {run_name(other)}"])  # fmt: skip
        title = attention_title(data, f"{run_name(run)} − {run_name(other)}")
        signed = True
    views = step_views(run, data.positions, title)
    return attention_figure(data, run, views, active=_active(views, step), scale=spec.scale,
                            signed=signed)  # fmt: skip


def _grid(
    capture: Capture,
    run: PromptRecord,
    spec: ViewSpec,
    view: str,
    step: int | None,
    other: PromptRecord | None,
) -> go.Figure:
    module = shown_module(capture, spec)

    def reduce(r: PromptRecord) -> Grid:
        # Reduced once over every position, then cut to the window: moving the window
        # (position) or going back to a view costs no second pass over the activations.
        key = ("grid", view, capture.runs.index(r), module, step)
        return window_grid(capture.cached(key, lambda: _every_position(r)), focus=spec.position)

    def _every_position(r: PromptRecord) -> Grid:
        if view == "residual_norm":
            return residual_norm(r, step=step, max_tokens=_EVERY)
        if view == "family":
            pattern = module or f"{layer_family(r)}.*.mlp"
            if "*" not in pattern:
                raise ViewError(
                    f"family needs a pattern with * for the layer number, not {pattern!r}."
                )
            family_paths(r, pattern)
            return family_summary(r, pattern, step=step, max_tokens=_EVERY)
        assert module is not None
        check_module(r, module, capture.model)
        return module_output(r, module, max_tokens=_EVERY)

    grid = reduce(run)
    if other is not None:
        grid = grid_difference(grid, reduce(other), run_name(run), run_name(other))
    elif spec.diff == STEP_DIFF:
        grid = step_difference(grid)
    colours = colour_scale(grid.z, spec.scale, signed=grid.signed)
    views = step_views(run, grid.positions, grid.title, steps=grid.steps)
    return grid_figure(grid, views, active=_active(views, step), colours=colours)


def _top_tokens(capture: Capture, run: PromptRecord, spec: ViewSpec, step: int | None) -> go.Figure:
    path = shown_module(capture, spec)
    if path is None:
        raise ViewError(
            f"The top-tokens view reads the model's output logits, and {run.label} saved "
            "none: save them inside the invoke block (model.lm_head.output.save())."
        )
    if spec.diff is not None:
        raise ViewError("The top-tokens view has no difference: pick diff=None.")
    grid = top_tokens_grid(top_tokens(run, path, top_k=spec.top_k, focus=spec.position),
                           run, _decoder(capture))  # fmt: skip
    views = step_views(run, grid.positions, grid.title, steps=grid.steps)
    colours = Colours(grid.z, 0.0, 1.0, "")
    return grid_figure(grid, views, active=_active(views, step), colours=colours)


def build(capture: Capture, spec: ViewSpec) -> go.Figure:
    """The figure of ``spec``; the slider starts at ``spec.step`` and goes to the last step."""
    run = capture.run(spec.invoke)
    view = normalize_view(spec.view) or default_view(capture)
    step = _step(run, spec.step)
    if spec.compare and spec.diff is not None:
        raise ViewError(
            "compare= puts runs side by side and diff= subtracts one: pick one of them "
            "(compare=None or diff=None)."
        )
    other = capture.run(spec.diff) if isinstance(spec.diff, int) else None
    if other is run:
        raise ViewError(f"diff= names the run shown ({run_name(run)}): pick another invoke.")
    if other is not None:
        check_same_positions(run, other)
    if view == "logit_lens":
        fig = _lens(capture, run, spec, step, other)
    elif view == "attention":
        fig = _attention(run, spec, step, other)
    elif view == "top_tokens":
        fig = _top_tokens(capture, run, spec, step)
    else:
        fig = _grid(capture, run, spec, view, step, other)
    # Our renderer redraws with Plotly.react: a zoom survives a change of step, top-k
    # or scale, and resets when what the axes show changes.
    key = (view, spec.invoke, shown_module(capture, spec), spec.layer, spec.compare, spec.diff)
    fig.update_layout(uirevision="|".join(map(str, key)))
    return fig
