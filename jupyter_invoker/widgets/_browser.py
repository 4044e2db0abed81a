"""The live activation browser: ipywidgets controls above one plotly figure output.

    browser = show(generator)                     # displays controls + figure
    browser.update(view="attention", layer=3)     # same as moving the controls
    browser.update(invoke=0, row=1)               # batch row 1 of generator.invoke 0
    browser.update(view="residual_norm", scale="log", diff=1)
    browser.figure                                # the go.Figure shown now
    browser.sent                                  # figures sent so far (one per change)

The figure is its own display output, never inside a widget: its bundle holds
plotly's ``application/vnd.plotly.v1+json`` (with the figure's own step slider) and
the marker of this package's JupyterLab renderer. The controls replace the output in
place with ``update_display``; in JupyterLab and Notebook 7 that renderer redraws it
with ``Plotly.react`` (plotly's own renderer would keep the first figure on screen),
and the notebook saves the view last shown, which a reopened, untrusted, kernel-less
notebook, VS Code or nbviewer still render with plotly. Each change sends one figure.
"""

from __future__ import annotations

import uuid
from typing import Any

import plotly.graph_objects as go

from ..exceptions import ViewError
from ._capture import Capture, collect
from ._controls import Controls, changes_for
from ._figures import bundle, bundle_bytes
from ._spec import ViewSpec, resolve
from ._views import build

__all__ = ["ActivationBrowser", "show"]


class ActivationBrowser:
    """Controls (those that apply to the current view) and one figure."""

    def __init__(self, capture: Capture, spec: ViewSpec) -> None:
        self.capture = capture
        self.spec = spec
        self.figure: go.Figure = build(capture, spec)
        self.sent = 0
        self.error: str | None = None
        self._display_id = f"ji-browser-{uuid.uuid4().hex}"
        self._handle: Any = None
        self._controls: Controls | None = None

    # ------------------------------------------------------------------ state
    def update(self, **changes: Any) -> None:
        """Rebuild the figure with ``changes`` to the view (the keywords of :func:`show`:
        ``view``, ``invoke``, ``row``, ``step``, ``module``, ``position``, ``top_k``,
        ``layer``, ``head``, ``track``, ``max_cells``, ``compare``, ``diff``, ``scale``)
        and replace the displayed one in place. Returns None, so a cell ending in
        ``browser.update(...)`` adds no second copy of the figure; the new one is
        ``browser.figure``. A refused change raises a ViewError and changes nothing."""
        spec = resolve(self.capture, changes, self.spec)
        self.figure = build(self.capture, spec)
        self.spec = spec
        self.error = None
        if self._controls is not None:
            self._controls.sync(self.capture, self.spec)
        self._send()

    def bundle(self) -> dict[str, Any]:
        """The display bundle of the current figure."""
        return bundle(self.figure)

    @property
    def bytes(self) -> int:
        """Bytes of the current figure's display bundle, as a kernel sends it."""
        return bundle_bytes(self.figure)

    @property
    def controls(self) -> dict[str, Any]:
        """The control widgets by name (built on first use)."""
        return self._control_box().widgets

    # ------------------------------------------------------------------ display
    def display(self) -> None:
        """Show the controls and the figure (again)."""
        from IPython.display import display

        display(self._control_box().bundle(), raw=True)
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

    def _control_box(self) -> Controls:
        if self._controls is None:
            self._controls = Controls(self._on_change)
            self._controls.sync(self.capture, self.spec)
        return self._controls

    def _on_change(self, name: str, value: Any) -> None:
        try:
            self.update(**changes_for(self.capture, self.spec, name, value))
        except ViewError as exc:
            self.error = str(exc)
            controls = self._control_box()
            controls.sync(self.capture, self.spec)  # the controls say what is shown
            controls.show_error(str(exc))


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
    ``residual_norm``, ``module``, ``family``, ``attention``, ``top_tokens`` (default:
    the logit lens when the model allows it; the top tokens when only the logits were
    saved). ``invoke``: which ``generator.invoke`` (default: the first that saved
    something); ``row``: which row of a batched invoke (``generator.invoke([a, b])``;
    default 0); ``step``: where the step slider starts. ``options``: ``module``,
    ``position`` (a long prompt's window ends there), ``top_k`` (1..20), ``layer``,
    ``head``, ``track``, ``max_cells`` (see ``ViewSpec``), ``compare`` (invoke numbers
    whose logit lens goes side by side), ``diff`` (an invoke number to subtract, or
    ``"step"``: each token minus the one before) and ``scale`` (``robust``, ``full``
    or ``log``: the colour scale of norms and activations). A wrong type or value
    raises a ViewError naming the valid ones.
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
