"""The patching heatmap: a plain plotly ``go.Figure``, shown as plotly's own MIME output.

    fig = patch_figure(result)            # one panel per site: layer × token (or × head)
    fig = patch_figure(result, other)     # rows: result, other, result − other

Hover shows the value, the layer and the token (or head). Arrays go out as float32
(plotly's binary encoding) and a panel wider than its share of the size bound is
pooled along positions (the value of largest magnitude in each block of positions, so
a peak survives), which the title says: a figure stays under 1 MB whatever the model
and prompt. ``PatchResult.show`` sends it as the activation browser's figures go
(``widgets._figures.bundle``): plotly's own MIME output, which renders in a reopened
notebook with no kernel and no trust, in JupyterLab, Notebook 7, VS Code and nbviewer,
marked for this package's JupyterLab renderer. plotly is imported here only, when a
figure is first built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..widgets._reduce import token_label

if TYPE_CHECKING:
    from ._result import PatchResult

__all__ = ["MAX_CELLS", "patch_figure"]

MAX_CELLS = 120_000  # float32 cells over all panels: ~640 KB once base64-encoded
_NAMES = {"resid": "residual stream", "attn": "attention", "mlp": "MLP", "heads": "heads"}
_FONT = {"family": "monospace", "size": 11}


def _panels(result: PatchResult) -> list[tuple[str, np.ndarray]]:
    out = [(site, result[site].numpy().astype(np.float32)) for site in result.sites]
    if result.head_effect is not None:
        out.append(("heads", result.head_effect.numpy().astype(np.float32)))
    return out


def _pool(grid: np.ndarray, labels: list[str], limit: int) -> tuple[np.ndarray, list[str], int]:
    """Columns pooled in blocks so rows × columns <= limit (largest magnitude kept)."""
    rows, cols = grid.shape
    block = max(1, math.ceil(rows * cols / max(limit, 1)))
    if block == 1:
        return grid, labels, 1
    pooled_cols = math.ceil(cols / block)
    padded = np.zeros((rows, pooled_cols * block), dtype=np.float32)
    padded[:, :cols] = grid
    blocks = padded.reshape(rows, pooled_cols, block)
    pick = np.abs(blocks).argmax(axis=2)
    pooled = np.take_along_axis(blocks, pick[..., None], axis=2)[..., 0]
    names = [
        f"{labels[i * block].split(':')[0]}–{labels[min(cols, (i + 1) * block) - 1]}"
        for i in range(pooled_cols)
    ]
    return pooled, names, block


def patch_figure(result: PatchResult, other: PatchResult | None = None) -> Any:
    """The heatmaps of ``result`` (and of ``other`` and ``result − other`` below it)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    runs = [result] if other is None else [result, other, result - other]
    panels = [_panels(run) for run in runs]
    n_cols = len(panels[0])
    per_panel = MAX_CELLS // (len(runs) * n_cols)
    titles = [
        f"{run.method}: {_NAMES[site]}" for run, row in zip(runs, panels, strict=True)
        for site, _ in row
    ]  # fmt: skip
    fig = make_subplots(
        rows=len(runs), cols=n_cols, subplot_titles=titles,
        horizontal_spacing=0.06, vertical_spacing=0.12 if len(runs) > 1 else 0.0,
    )  # fmt: skip
    pooled_by = 1
    for r, (run, row) in enumerate(zip(runs, panels, strict=True), start=1):
        scale = max((float(np.abs(grid).max()) for _, grid in row if grid.size), default=1.0)
        scale = scale or 1.0
        for c, (site, grid) in enumerate(row, start=1):
            if site == "heads":
                x_labels = [f"head {h}" for h in range(grid.shape[1])]
                kind = "head"
            else:
                x_labels = [f"{p}: {token_label(run.tokens[p])}" for p in run.positions]
                kind = "token"
            z, x_labels, block = _pool(grid, x_labels, per_panel)
            pooled_by = max(pooled_by, block)
            fig.add_trace(
                go.Heatmap(
                    z=z, x=x_labels, y=[f"layer {layer}" for layer in run.layers],
                    coloraxis=f"coloraxis{r}" if r > 1 else "coloraxis",
                    hovertemplate=(f"%{{y}}<br>{kind} %{{x}}<br>{run.method} effect "
                                   f"%{{z:.4f}}<extra>{_NAMES[site]}</extra>"),
                ),
                row=r, col=c,
            )  # fmt: skip
        axis = "coloraxis" if r == 1 else f"coloraxis{r}"
        fig.update_layout(
            {axis: {"colorscale": "RdBu", "reversescale": True, "cmin": -scale, "cmax": scale,
                    "colorbar": {"title": {"text": run.method}, "len": 1 / len(runs),
                                 "y": 1 - (r - 0.5) / len(runs), "yanchor": "middle"}}}
        )  # fmt: skip
    clean = "".join(result.tokens)
    corrupt = "".join(result.corrupt_tokens)
    note = f" · positions pooled ×{pooled_by} (largest |effect| kept)" if pooled_by > 1 else ""
    fig.update_layout(
        title={"text": f"{result.metric}<br><sub>clean {clean!r} · corrupt {corrupt!r}{note}</sub>",
               "font": {"size": 13}},
        font=_FONT, height=max(320, 60 + len(runs) * (120 + 14 * len(result.layers))),
        margin={"l": 70, "r": 20, "t": 90, "b": 40},
    )  # fmt: skip
    return fig
