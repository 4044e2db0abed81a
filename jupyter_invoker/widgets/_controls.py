"""The browser's controls: which apply to a view, and the ipywidgets that show them.

    shown = applicable(capture, spec)      # {"view", "step", "position", "scale", ...}
    controls = Controls(on_change)         # on_change(name, value) per user change
    controls.sync(capture, spec)           # options, values and visibility, no events
    display(controls.bundle())             # widget view + a sentence as text/plain

Only the controls that change the current view are shown: the module menu for the
module, family and top-token views, layer and head for attention, top-k and the
token to follow for the logit lens, the colour scale for views of unbounded values,
compare (side by side) and diff (a difference) where another run or a previous token
exists, the prompt, row and step menus when there is more than one to pick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..exceptions import ViewError
from ._capture import Capture, PromptRecord
from ._choose import logit_paths
from ._reduce import MAX_TOKENS, layer_family
from ._reduce_attention import MAX_ATTENTION_TOKENS, attention_heads, attention_layers
from ._reduce_lens import find_lens
from ._scale import scales_for
from ._spec import MAX_TOP_K, STEP_DIFF, VIEWS, ViewSpec
from ._views import attention_available, family_choices, module_choices, shown_module

__all__ = ["CONTROLS", "TEXT", "Controls", "applicable", "changes_for", "view_choices"]

# Every control, in the order they are laid out.
CONTROLS = ("view", "invoke", "row", "module", "layer", "head", "step", "position", "top_k",
            "track", "compare", "diff", "scale")  # fmt: skip
# What a front end with no live kernel shows in the controls' place (text/plain).
TEXT = (
    "Activation browser controls (view, prompt, module, step, position, ...): they need "
    "the kernel that drew them; run the cell again to use them. The figure below is the "
    "view that was last on screen."
)
_SCALE_LABELS = {"robust": "robust (clip outliers)", "full": "full range", "log": "log"}
# A menu entry's value for "no choice" (ipywidgets reads a None value as no selection).
NONE = "none"
ALL = "all"


def view_choices(capture: Capture, run: PromptRecord) -> list[str]:
    """The views this run can show."""
    found: set[str] = set()
    try:
        layer_family(run)
        found |= {"residual_norm", "family"}
        if capture.model is not None:
            find_lens(capture.model.hf_model)
            found.add("logit_lens")
    except ViewError:
        pass
    if run.paths():
        found.add("module")
    if attention_available(run):
        found.add("attention")
    if logit_paths(run, capture.model):
        found.add("top_tokens")
    return [v for v in VIEWS if v in found]


def _diff_options(capture: Capture, spec: ViewSpec) -> list[tuple[str, Any]]:
    run = capture.run(spec.invoke)
    options: list[tuple[str, Any]] = [("none", NONE)]
    if spec.view == "top_tokens":
        return options
    for invoke in capture.invokes():
        other = capture.run(capture.index_of(invoke))
        if invoke != run.invoke and len(other.tokens) == len(run.tokens):
            options.append((f"− invoke {invoke}", invoke))
    if spec.view in ("residual_norm", "family", "module") and len(run.tokens) > 1:
        options.append(("− token before (step t − t−1)", STEP_DIFF))
    return options


def _signed(spec: ViewSpec) -> bool:
    return spec.view == "module" or spec.diff is not None


def applicable(capture: Capture, spec: ViewSpec) -> set[str]:
    """The controls that change what ``spec``'s view shows."""
    run = capture.run(spec.invoke)
    view = spec.view
    shown = {"view"}
    if len(capture.invokes()) > 1:
        shown.add("invoke")
    if run.rows > 1:
        shown.add("row")
    if view in ("module", "family") or (
        view == "top_tokens" and len(logit_paths(run, capture.model)) > 1
    ):
        shown.add("module")
    if view == "attention":
        shown.add("layer")
        if attention_heads(run, spec.layer) > 1:
            shown.add("head")
    if len(run.step_list) > 1 and not spec.compare:
        shown.add("step")
    window = MAX_ATTENTION_TOKENS if view == "attention" else MAX_TOKENS
    if view == "logit_lens" or len(run.tokens) > window:
        shown.add("position")  # the lens's trajectory, or a long prompt's window
    if view in ("logit_lens", "top_tokens"):
        shown.add("top_k")
    if view == "logit_lens" and not spec.compare and spec.diff is None:
        shown.add("track")
    if view == "logit_lens" and len(capture.invokes()) > 1:
        shown.add("compare")
    if len(_diff_options(capture, spec)) > 1:
        shown.add("diff")
    if view in ("residual_norm", "family", "module", "attention"):
        shown.add("scale")
    return shown


class Controls:
    """The ipywidgets of :data:`CONTROLS`; ``on_change(name, value)`` hears the user's
    changes (never the ones :meth:`sync` makes)."""

    def __init__(self, on_change: Callable[[str, Any], None]) -> None:
        import ipywidgets as w

        style = {"description_width": "initial"}

        def menu(description: str, width: str = "auto") -> Any:
            return w.Dropdown(options=[("", None)], description=description, style=style,
                              layout=w.Layout(width=width))  # fmt: skip

        self.widgets: dict[str, Any] = {
            "view": menu("view"),
            "invoke": menu("prompt"),
            "row": menu("row"),
            "module": menu("module", "320px"),
            "layer": menu("layer"),
            "head": menu("head"),
            "step": w.SelectionSlider(
                options=[("0", 0)], description="step", continuous_update=False, style=style
            ),
            "position": w.BoundedIntText(
                description="position", min=0, max=0, style=style, layout=w.Layout(width="160px")
            ),
            "top_k": w.BoundedIntText(
                value=5,
                min=1,
                max=MAX_TOP_K,
                description="top-k",
                style=style,
                layout=w.Layout(width="120px"),
            ),
            "track": w.Text(
                placeholder="token to follow",
                description="token",
                continuous_update=False,
                style=style,
                layout=w.Layout(width="200px"),
            ),
            "compare": menu("beside"),
            "diff": menu("minus"),
            "scale": menu("colour"),
        }
        self.message = w.HTML(value="")
        self._syncing = False
        self._on_change = on_change
        for name, widget in self.widgets.items():
            widget.add_class(f"ji-control-{name}")
            widget.observe(self._handler(name), names="value")
        c = self.widgets
        self.box = w.VBox([
            w.HBox([c[n] for n in ("view", "invoke", "row", "module", "layer", "head")]),
            w.HBox([c[n] for n in ("step", "position", "top_k", "track")]),
            w.HBox([c[n] for n in ("compare", "diff", "scale")]),
            self.message,
        ])  # fmt: skip
        self.box.add_class("ji-browser-controls")

    def _handler(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if not self._syncing:
                self._on_change(name, change["new"])

        return handler

    def bundle(self) -> dict[str, Any]:
        """The controls' display bundle: the widget view, and a sentence where a front
        end cannot draw it (a reopened notebook with no kernel)."""
        data = dict(self.box._repr_mimebundle_())
        data["text/plain"] = TEXT
        return data

    def show_error(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00'>{_escape(text)}</span>"

    def sync(self, capture: Capture, spec: ViewSpec) -> None:
        """Options, values and visibility follow ``spec``, without firing a change."""
        run = capture.run(spec.invoke)
        shown = applicable(capture, spec)
        values = self._values(capture, spec, run)
        self._syncing = True
        try:
            for name, widget in self.widgets.items():
                options, value = values.get(name, (None, None))
                if options is not None:
                    widget.options = options
                if name == "position":
                    widget.max = run.last_position
                if value is not None or options is not None:
                    widget.value = value
                widget.layout.display = None if name in shown else "none"
            self.message.value = ""
        finally:
            self._syncing = False

    def _values(
        self, capture: Capture, spec: ViewSpec, run: PromptRecord
    ) -> dict[str, tuple[Any, Any]]:
        """``{control: (options or None, value)}`` for ``spec``."""
        values: dict[str, tuple[Any, Any]] = {
            "view": (view_choices(capture, run), spec.view),
            "invoke": (_invokes(capture), run.invoke),
            "row": (_rows(capture, run), run.row),
            "step": (
                [(str(s), s) for s in run.step_list],
                spec.step if spec.step in run.steps else run.step_list[-1],
            ),
            "position": (None, run.last_position if spec.position is None else spec.position),
            "top_k": (None, spec.top_k),
            "track": (None, spec.track or ""),
        }
        module = shown_module(capture, spec)
        if spec.view == "family":
            values["module"] = (family_choices(run), module)
        elif spec.view == "top_tokens":
            values["module"] = (logit_paths(run, capture.model), module)
        elif module is not None:
            values["module"] = (module_choices(run), module)
        if spec.view == "attention":
            layers = attention_layers(run)
            layer = spec.layer if spec.layer in layers else layers[-1]
            heads = [("all", ALL)] + [(str(h), h) for h in range(attention_heads(run, layer))]
            values["layer"] = ([(str(i), i) for i in layers], layer)
            values["head"] = (heads, ALL if spec.head is None else spec.head)
        others = [(f"invoke {i}", i) for i in capture.invokes() if i != run.invoke]
        compare = capture.run(spec.compare[0]).invoke if spec.compare else NONE
        values["compare"] = ([("none", NONE), *others], compare)
        diff: Any = NONE if spec.diff is None else spec.diff
        if isinstance(diff, int):
            diff = capture.run(diff).invoke
        values["diff"] = (_diff_options(capture, spec), diff)
        scales = scales_for(_signed(spec))
        scale = spec.scale if spec.scale in scales else "robust"
        values["scale"] = ([(_SCALE_LABELS[s], s) for s in scales], scale)
        return values


def _invokes(capture: Capture) -> list[tuple[str, int]]:
    """One entry per ``generator.invoke``: its prompt, or its batch size."""
    entries: dict[int, str] = {}
    for run in capture.runs:
        if run.invoke not in entries:
            batch = f"invoke {run.invoke}: batch of {run.rows} rows"
            entries[run.invoke] = batch if run.rows > 1 else run.label
    return [(label, invoke) for invoke, label in entries.items()]


def _rows(capture: Capture, run: PromptRecord) -> list[tuple[str, int]]:
    """The batch rows of ``run``'s invoke, each with its prompt."""
    return [(r.label.partition(" row ")[2] or r.label, r.row)
            for r in capture.runs if r.invoke == run.invoke]  # fmt: skip


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def changes_for(capture: Capture, spec: ViewSpec, name: str, value: Any) -> dict[str, Any]:
    """What a user's change of control ``name`` to ``value`` changes in the view: the
    option itself, and the options it makes meaningless (a view change drops a
    side-by-side comparison and a difference that view cannot make; a prompt change
    drops a difference with, or a comparison to, that same prompt)."""
    if value in (NONE, ALL) and name in ("compare", "diff", "head"):
        value = None
    changes: dict[str, Any] = {name: value}
    if name == "invoke":
        if isinstance(spec.diff, int) and capture.run(spec.diff).invoke == value:
            changes["diff"] = None
        if any(capture.run(i).invoke == value for i in spec.compare):
            changes["compare"] = None
    elif name == "track":
        changes[name] = value or None
    elif name == "view":
        if value in ("module", "family", "top_tokens"):
            changes["module"] = None
        if value != "logit_lens" and spec.compare:
            changes["compare"] = None
        if value == "top_tokens" or (
            spec.diff == STEP_DIFF and value in ("logit_lens", "attention")
        ):
            changes["diff"] = None
        signed = value == "module" or (spec.diff is not None and "diff" not in changes)
        if signed and spec.scale == "log":
            changes["scale"] = "robust"
    elif name == "compare":
        changes["compare"] = value
        if value is not None:
            changes["diff"] = None
    elif name == "diff" and value is not None:
        changes["compare"] = None
        if spec.scale == "log":
            changes["scale"] = "robust"
    return changes
