"""The live activation browser: ipywidgets controls above one plain plotly output.

    browser = show(generator)                     # displays controls + figure
    browser.update(view="attention", layer=3)     # same as moving the controls
    browser.update(invoke=0, row=1)               # batch row 1 of generator.invoke 0
    browser.figure                                # the go.Figure shown now
    browser.sent                                  # figures sent so far (one per change)

The figure is its own display output (``application/vnd.plotly.v1+json`` with a
display id), never inside a widget: the controls replace it in place with
``update_display``, so the notebook keeps the last view as plain plotly output that a
reopened, untrusted, kernel-less notebook (or VS Code) still renders (DESIGN §6).
Each control change sends exactly one figure.
"""

from __future__ import annotations

import uuid
from typing import Any

import plotly.graph_objects as go

from ..exceptions import ViewError
from ._figures import bundle, bundle_bytes
from ._source import Capture, collect
from ._views import (
    MAX_TOP_K,
    VIEWS,
    ViewSpec,
    attention_available,
    build,
    default_module,
    family_choices,
    module_choices,
    resolve,
)

__all__ = ["ActivationBrowser", "show"]


class ActivationBrowser:
    """Controls (view, module, invoke, step, position, top-k, token) and one figure."""

    def __init__(self, capture: Capture, spec: ViewSpec) -> None:
        self.capture = capture
        self.spec = spec
        self.figure: go.Figure = build(capture, spec)
        self.sent = 0
        self.error: str | None = None
        self._display_id = f"ji-browser-{uuid.uuid4().hex}"
        self._handle: Any = None
        self._controls: dict[str, Any] = {}
        self._syncing = False

    # ------------------------------------------------------------------ state
    def update(self, **changes: Any) -> None:
        """Rebuild the figure with ``changes`` to the view (the keywords of :func:`show`:
        ``view``, ``invoke``, ``row``, ``step``, ``module``, ``position``, ``top_k``,
        ``layer``, ``head``, ``track``, ``max_cells``, ``compare``) and replace the
        displayed one in place. Returns None, so a cell ending in ``browser.update(...)``
        adds no second copy of the figure; the new one is ``browser.figure``."""
        spec = resolve(self.capture, changes, self.spec)
        self.figure = build(self.capture, spec)
        self.spec = spec
        self.error = None
        self._sync_controls()
        self._send()

    def bundle(self) -> dict[str, Any]:
        """The display bundle of the current figure."""
        return bundle(self.figure)

    @property
    def bytes(self) -> int:
        """Bytes of the current figure's display bundle, as a kernel sends it."""
        return bundle_bytes(self.figure)

    # ------------------------------------------------------------------ display
    def display(self) -> None:
        """Show the controls and the figure (again)."""
        from IPython.display import display

        display(self._control_box())
        self._handle = display(self.bundle(), raw=True, display_id=self._display_id)
        self.sent += 1

    def _ipython_display_(self) -> None:
        if self._handle is None:  # show() already displayed it; the cell value adds nothing
            self.display()

    def __repr__(self) -> str:
        run = self.capture.run(self.spec.invoke)
        return f"<ActivationBrowser {self.spec.view} of {run.label}>"

    def _send(self) -> None:
        if self._handle is not None:
            self._handle.update(self.bundle(), raw=True)
            self.sent += 1

    # ------------------------------------------------------------------ controls
    def _control_box(self) -> Any:
        import ipywidgets as w

        run = self.capture.run(self.spec.invoke)
        views = [v for v in VIEWS if v != "attention" or attention_available(run)]
        if self.capture.model is None and "logit_lens" in views:
            views.remove("logit_lens")
        layout = w.Layout(width="auto")
        style = {"description_width": "initial"}
        c = self._controls
        c["view"] = w.Dropdown(
            options=views, value=self.spec.view, description="view", style=style, layout=layout
        )
        c["module"] = w.Dropdown(options=self._modules(), value=self._module_value(),
                                 description="module", style=style, layout=w.Layout(width="320px"))  # fmt: skip
        c["invoke"] = w.Dropdown(options=self._invokes(), value=run.invoke, description="prompt",
                                 style=style, layout=layout)  # fmt: skip
        c["row"] = w.Dropdown(options=self._rows(), value=run.row, description="row", style=style,
                              layout=w.Layout(width="auto", display=self._row_display()))  # fmt: skip
        c["step"] = w.SelectionSlider(options=self._steps(), value=self._step_value(), description="step",
                                      continuous_update=False, style=style)  # fmt: skip
        c["position"] = w.IntText(value=self._position_value(), description="position", style=style,
                                  layout=w.Layout(width="150px"))  # fmt: skip
        c["top_k"] = w.BoundedIntText(value=self.spec.top_k, min=1, max=MAX_TOP_K, description="top-k",
                                      style=style, layout=w.Layout(width="120px"))  # fmt: skip
        c["track"] = w.Text(value=self.spec.track or "", placeholder="token to follow", description="token",
                            continuous_update=False, style=style, layout=w.Layout(width="200px"))  # fmt: skip
        c["message"] = w.HTML(value="")
        for name in ("view", "module", "invoke", "row", "step", "position", "top_k", "track"):
            c[name].observe(self._on_change(name), names="value")
        return w.VBox([w.HBox([c["view"], c["module"], c["invoke"], c["row"]]),
                       w.HBox([c["step"], c["position"], c["top_k"], c["track"]]), c["message"]])  # fmt: skip

    def _invokes(self) -> list[tuple[str, int]]:
        """One entry per ``generator.invoke``: its prompt, or its batch size."""
        entries: dict[int, str] = {}
        for run in self.capture.runs:
            if run.invoke not in entries:
                batch = f"invoke {run.invoke}: batch of {run.rows} rows"
                entries[run.invoke] = batch if run.rows > 1 else run.label
        return [(label, invoke) for invoke, label in entries.items()]

    def _rows(self) -> list[tuple[str, int]]:
        """The batch rows of the current invoke, each with its prompt."""
        invoke = self.capture.run(self.spec.invoke).invoke
        return [(r.label.partition(" row ")[2] or r.label, r.row)
                for r in self.capture.runs if r.invoke == invoke]  # fmt: skip

    def _row_display(self) -> str:
        """The row menu shows only for a batch of more than one row."""
        return "flex" if len(self._rows()) > 1 else "none"

    def _modules(self) -> list[str]:
        run = self.capture.run(self.spec.invoke)
        if self.spec.view == "family":
            return family_choices(run)
        return module_choices(run)

    def _module_value(self) -> str | None:
        options = self._modules()
        if self.spec.module in options:
            return self.spec.module
        if self.spec.view == "family":
            return options[-1] if options else None
        return default_module(self.capture.run(self.spec.invoke))

    def _steps(self) -> list[tuple[str, int]]:
        return [(str(s), s) for s in self.capture.run(self.spec.invoke).step_list]

    def _step_value(self) -> int:
        steps = self.capture.run(self.spec.invoke).step_list
        return self.spec.step if self.spec.step in steps else steps[-1]

    def _position_value(self) -> int:
        run = self.capture.run(self.spec.invoke)
        last = run.step_position(run.step_list[-1]) if run.step_list[-1] else run.n_prompt - 1
        return last if self.spec.position is None else self.spec.position

    def _on_change(self, name: str) -> Any:
        def handler(change: dict[str, Any]) -> None:
            if self._syncing:
                return
            value = change["new"]
            changes: dict[str, Any] = {name: value}
            if name == "track":
                changes[name] = value or None
            if name == "module" and self.spec.view not in ("module", "family"):
                changes["view"] = "module"
            if name == "view" and value in ("module", "family"):
                changes["module"] = None
            try:
                self.update(**changes)
            except ViewError as exc:
                self.error = str(exc)
                self._controls["message"].value = f"<span style='color:#b00'>{exc}</span>"

        return handler

    def _sync_controls(self) -> None:
        """Controls follow the spec without firing (one change sends one figure)."""
        c = self._controls
        if not c:
            return
        self._syncing = True
        try:
            c["view"].value = self.spec.view
            run = self.capture.run(self.spec.invoke)
            c["invoke"].value = run.invoke
            c["row"].options = self._rows()
            c["row"].value = run.row
            c["row"].layout.display = self._row_display()
            c["module"].options = self._modules()
            c["module"].value = self._module_value()
            c["step"].options = self._steps()
            c["step"].value = self._step_value()
            c["position"].value = self._position_value()
            c["message"].value = ""
        finally:
            self._syncing = False


def show(
    source: Any,
    *,
    view: str | None = None,
    invoke: int | None = None,
    row: int | None = None,
    step: int | None = None,
    **options: Any,
) -> ActivationBrowser:
    """Display the activation browser of a traced run and return it.

    ``source``: a traced ``Generator``, an ``ExecutionResult`` of a local run, an
    ``Invoker`` or a ``{module_path: tensor}`` dict. ``view``: one of ``logit_lens``,
    ``residual_norm``, ``module``, ``family``, ``attention`` (default: the logit lens
    when the model allows it). ``invoke``: which ``generator.invoke`` (default: the
    first that saved something); ``row``: which row of a batched invoke
    (``generator.invoke([a, b])``; default 0); ``step``: where the step slider starts.
    ``options``: ``module``, ``position``, ``top_k`` (1..20), ``layer``, ``head``,
    ``track``, ``max_cells`` (see ``ViewSpec``), and ``compare``: other invoke numbers
    whose logit lens is shown side by side with this one. A wrong type or value raises
    a ViewError naming the valid ones.
    """
    capture = collect(source)
    spec = resolve(capture, {"view": view, "invoke": invoke, "row": row, "step": step, **options})
    browser = ActivationBrowser(capture, spec)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the lab extras
        return browser
    if get_ipython() is not None:
        browser.display()
    return browser
