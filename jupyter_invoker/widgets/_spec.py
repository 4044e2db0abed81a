"""What a view shows, as one checked value: :class:`ViewSpec` and :func:`resolve`.

    spec = resolve(capture, {"view": "residual", "scale": "log"})   # show(...)
    spec = resolve(capture, {"step": 0}, base=spec)                   # browser.update(...)

Every option of ``show()`` / ``browser.update()`` is checked here for type and range:
a wrong one is a ViewError naming the valid values, and a refused change leaves the
view as it was.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from ..exceptions import ViewError
from ._capture import Capture, PromptRecord
from ._choose import default_view
from ._reduce_lens import MAX_LENS_CELLS
from ._scale import SCALES, normalize_scale

__all__ = ["MAX_TOP_K", "OPTIONS", "VIEWS", "ViewSpec", "normalize_view", "resolve"]

VIEWS = ("logit_lens", "residual_norm", "module", "family", "attention", "top_tokens")
_ALIASES = {"lens": "logit_lens", "logit lens": "logit_lens", "residual": "residual_norm",
            "norm": "residual_norm", "module_output": "module", "attn": "attention",
            "steps": "logit_lens", "tokens": "top_tokens", "top tokens": "top_tokens"}  # fmt: skip
# The keywords of show() and browser.update().
OPTIONS = ("view", "invoke", "row", "step", "module", "position", "top_k", "layer", "head",
           "track", "max_cells", "compare", "diff", "scale")  # fmt: skip
MAX_TOP_K = 20  # top-k tokens in the logit lens hover (the top-k control's range)
STEP_DIFF = "step"  # diff="step": each token's column minus the one before (step t − t−1)


@dataclass(frozen=True)
class ViewSpec:
    """What to show. ``invoke``: index into the prompts that saved something
    (``show(invoke=n)`` maps generator invoke ``n`` onto it); ``step=None``: the last
    saved step (the slider covers the others); ``position=None``: the last token (a
    long prompt's window ends at ``position``); ``track``: a token (text) whose
    probability the logit lens follows across layers; ``compare``: more prompts whose
    logit lens goes side by side; ``diff``: a prompt index whose view is subtracted
    (run A − run B), or ``"step"`` (each token minus the one before); ``scale``: the
    colour scale of heatmaps of unbounded values (``robust``, ``full`` or ``log``)."""

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
    compare: tuple[int, ...] = ()
    diff: int | str | None = None
    scale: str = "robust"

    def replace(self, **changes: Any) -> ViewSpec:
        return dataclasses.replace(self, **changes)


def normalize_view(view: str | None) -> str | None:
    if view is None:
        return None
    name = _ALIASES.get(view.strip().lower(), view.strip().lower())
    if name not in VIEWS:
        raise ViewError(f"Unknown view {view!r}: pick one of {', '.join(VIEWS)}.")
    return name


def _step(run: PromptRecord, step: int | None) -> int | None:
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


def _diff(capture: Capture, value: Any) -> int | str | None:
    valid = f"an invoke number from {capture.invokes()}, 'step' (step t − t−1) or None"
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if isinstance(value, str):
        if value.strip().lower() in (STEP_DIFF, "previous", "t-1"):
            return STEP_DIFF
        raise ViewError(f"diff={value!r} is not a difference this browser makes: pass {valid}.")
    return capture.index_of(_int("diff", value, valid))


def _compare(capture: Capture, value: Any) -> tuple[int, ...]:
    items = [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]
    valid = f"invoke numbers from {capture.invokes()}"
    return tuple(capture.index_of(_int("compare", i, valid)) for i in items)


def resolve(capture: Capture, options: dict[str, Any], base: ViewSpec | None = None) -> ViewSpec:
    """The :class:`ViewSpec` of ``show(**options)`` (``base=None``) or of
    ``browser.update(**options)`` (changes to ``base``), every option checked for type
    and range: a ViewError naming the valid values otherwise. ``invoke`` is a
    ``generator.invoke`` number, ``row`` a row of its batch, ``compare`` and ``diff``
    invoke numbers."""
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
    last = run.last_position
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
                        ("head", "an attention head number (or None for every head)")):  # fmt: skip
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
        changes["compare"] = _compare(capture, options["compare"])
    if "diff" in options:
        changes["diff"] = _diff(capture, options["diff"])
    if "scale" in options:
        scale = _text("scale", options["scale"], f"one of {', '.join(SCALES)}")
        changes["scale"] = normalize_scale(scale)
    return spec.replace(**changes)
