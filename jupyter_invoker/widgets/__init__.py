"""The activation browser: saved module outputs as heatmaps that render anywhere.

    import jupyter_invoker as ji
    browser = ji.show(generator)                 # controls + one plotly figure
    browser = ji.show(result, view="attention")  # an ExecutionResult of a local run
    ji.show({"model.layers.3": hidden}, view="module")     # a dict of saved tensors
    ji.widgets.worth_showing(result)             # False: nothing saved reads as a figure

Layers: ``_capture`` (a traced run -> one ``PromptRecord`` per prompt), ``_reduce*`` (tensors ->
small float32 grids, no IPython), ``_scale`` and ``_diff`` (colour scales,
differences), ``_figures*`` (plotly figures), ``_spec`` / ``_choose`` / ``_views``
(one view -> one figure), ``_controls`` and ``_browser`` (the ipywidgets controls,
updating the figure's own display in place, redrawn on screen by this package's
JupyterLab renderer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._choose import worth_showing
from ._reduce_lens import LAYOUTS

if TYPE_CHECKING:
    from ._browser import show

__all__ = ["LAYOUTS", "show", "worth_showing"]


def __getattr__(name: str) -> Any:
    if name == "show":
        from ._browser import show

        return show
    raise AttributeError(f"module 'jupyter_invoker.widgets' has no attribute {name!r}")
