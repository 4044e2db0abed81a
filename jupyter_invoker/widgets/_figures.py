"""Plotly figures from reductions: plain ``go.Figure``s, shown as plotly's own MIME type.

    fig = grid_figure(grid, steps, colours=colour_scale(grid.z, "robust", signed=False))
    fig = attention_figure(data, run, steps)
    bundle(fig)  # {LIVE_MIME: marker, "application/vnd.plotly.v1+json": ..., "text/plain": ...}

Arrays go out as float32 (plotly's binary encoding), axes are numeric with token
labels as tick text (so repeated tokens stay separate columns; a grid's token axis
counts absolute positions, so its hover names the position even in a moved window),
one colour scale per view, and the title says view, module, step and reductions. A
generate run's step slider lives in the figure itself: each step shows the prefix of
the token axis up to that step's token (a relayout of the axis range, plus the data
of panels that follow the step), so stepping works with no kernel. No FigureWidget,
no script, no CDN. The logit lens's figures are in ``_figures_lens``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ._capture import PromptRecord
from ._reduce import Grid, token_label
from ._reduce_attention import AttentionData
from ._scale import Colours, colour_scale

__all__ = [
    "LIVE_MIME",
    "MIME",
    "StepView",
    "attention_figure",
    "attention_title",
    "base_layout",
    "bundle",
    "bundle_bytes",
    "grid_figure",
    "notes_text",
    "slider",
    "step_views",
    "ticks",
]

MIME = "application/vnd.plotly.v1+json"
# Our JupyterLab extension's renderer, ranked above plotly's, draws the bundle's plotly
# figure with Plotly.react on every update: plotly's own renderer ignores updates of a
# figure already drawn, so without it the controls would never change the screen.
LIVE_MIME = "application/vnd.jupyter-invoker.plotly+json"
_FONT = {"family": "monospace", "size": 11}


@dataclass
class StepView:
    """What the figure's slider shows at one generation step."""

    step: int
    count: int  # entries of the token axis visible at this step
    label: str  # the slider tick
    title: str  # the title at this step


def step_views(
    run: PromptRecord,
    positions: list[int],
    title: str,
    upto: int | None = None,
    *,
    steps: list[int] | None = None,
) -> list[StepView]:
    """One :class:`StepView` per saved step ``<= upto`` (and in ``steps``, the steps the
    data covers, when given) that shows at least one entry. The title names the batch
    row of a batched invoke."""
    last = run.step_list[-1] if upto is None else upto
    if run.rows > 1:
        title = f"{title} · row {run.row} of {run.rows}"
    views = []
    for step in run.step_list:
        if step > last:
            break
        if steps is not None and step not in steps:
            continue
        edge = run.n_prompt - 1 if step == 0 else run.step_position(step)
        count = sum(1 for p in positions if p <= edge)
        if count == 0:
            continue
        generated = "".join(run.tokens[run.n_prompt : run.n_prompt + step])
        suffix = f" · generated so far: {generated!r}" if step else ""
        label = "prompt" if step == 0 else token_label(run.tokens[run.step_position(step)])
        views.append(StepView(step, count, f"{step}: {label}", f"{title} · step {step}{suffix}"))
    return views


def notes_text(notes: list[str]) -> str:
    """The line under the title: every reduction applied, then (on a line of its own)
    what the colour scale and a difference do."""
    said = [n for n in notes if n.startswith(("colour", "difference"))]
    reduced = [n for n in notes if n not in said]
    text = "reduced: " + "; ".join(reduced) if reduced else "not reduced"
    return "<br>".join([text, " · ".join(said)]) if said else text


def base_layout(fig: go.Figure, title: str, notes: list[str], height: int) -> None:
    fig.update_layout(
        template="none",
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        height=height,
        margin={"l": 70, "r": 30, "t": 60, "b": 120},
        font=_FONT,
        hoverlabel={"font": _FONT},
        xaxis={"zeroline": False},
        yaxis={"zeroline": False},
        annotations=[
            {"text": notes_text(notes), "xref": "paper", "yref": "paper", "x": 0, "y": 1.0,
             "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": "#666"}}
        ],
    )  # fmt: skip


def slider(
    fig: go.Figure,
    views: list[StepView],
    axes: str,
    active: int | None,
    *,
    coords: list[int] | None = None,
    traces: list[tuple[dict[str, Any], list[int], dict[str, Any]]] | None = None,
) -> None:
    """A step slider that moves the token axis range (``axes``: "x", "y" or "xy";
    ``coords``: the token axis's coordinates, default 0..n-1). ``traces[i]``: what
    step ``i`` also changes, as (trace data, trace indices, layout), for panels that
    follow the step (the logit lens's trajectories and their position menu)."""
    if len(views) < 2:
        if views:
            fig.update_layout(title_text=views[-1].title)
        return
    chosen = len(views) - 1 if active is None else active
    steps: list[dict[str, Any]] = []
    for i, view in enumerate(views):
        low = (coords[0] if coords else 0) - 0.5
        high = (coords[view.count - 1] if coords else view.count - 1) + 0.5
        relayout: dict[str, Any] = {"title.text": view.title}
        if "x" in axes:
            relayout["xaxis.range"] = [low, high]
        if "y" in axes:
            relayout["yaxis.range"] = [high, low]
        if traces:
            data, indices, layout = traces[i]
            steps.append({"method": "update", "label": view.label,
                          "args": [data, {**relayout, **layout}, indices]})  # fmt: skip
        else:
            steps.append({"method": "relayout", "label": view.label, "args": [relayout]})
    fig.update_layout(
        sliders=[{"active": chosen, "steps": steps, "currentvalue": {"prefix": "step "},
                  "pad": {"t": 50}, "len": 1.0}],
        title_text=views[chosen].title,
    )  # fmt: skip
    current: dict[str, Any] = steps[chosen]["args"][1 if traces else 0]
    if "xaxis.range" in current:
        fig.layout.xaxis.range = current["xaxis.range"]
    if "yaxis.range" in current:
        fig.layout.yaxis.range = current["yaxis.range"]


# Every label is drawn and measured by the browser: 512 token labels take ~2 s per
# redraw in Chromium, 64 take ~0.1 s. Longer axes label every k-th token (a zoom or the
# hover gives the rest).
MAX_LABELS = 128
_THINNED = 64


def ticks(labels: list[str], values: list[int] | None = None) -> dict[str, Any]:
    """An axis labelled with ``labels`` at ``values`` (default 0..n-1); every k-th one
    when there are more than :data:`MAX_LABELS`."""
    values = list(range(len(labels))) if values is None else list(values)
    if len(labels) > MAX_LABELS:
        every = -(-len(labels) // _THINNED)
        values, labels = values[::every], labels[::every]
    return {"tickmode": "array", "tickvals": values, "ticktext": labels}


def _numeric(labels: list[str]) -> list[int] | None:
    return [int(x) for x in labels] if all(x.isdigit() for x in labels) else None


def grid_figure(
    grid: Grid,
    views: list[StepView],
    *,
    active: int | None = None,
    colours: Colours | None = None,
) -> go.Figure:
    """A heatmap of any :class:`Grid` with its step slider, coloured by ``colours``
    (default: the robust scale of its values); the hover shows each cell's value and
    the grid's ``extra`` values (a difference's two sides)."""
    colours = colours or colour_scale(grid.z, "robust", signed=grid.signed)
    n_rows, n_cols = grid.z.shape
    token_x, token_y = "x" in grid.token_axis, "y" in grid.token_axis
    x = grid.positions if token_x else _numeric(grid.cols) or list(range(n_cols))
    y = grid.positions if token_y else _numeric(grid.rows) or list(range(n_rows))
    channels = (
        [] if grid.extra is None else [grid.extra[..., i] for i in range(grid.extra.shape[-1])]
    )
    value = f"{grid.value} %{{z:.4g}}"
    if colours.transformed:  # the colour is not the value: the hover reads it from customdata
        value = f"{grid.value} %{{customdata[{len(channels)}]:.4g}}"
        channels.append(grid.z)
    lines = [f"{name} %{{customdata[{i}]:.4g}}" for i, name in enumerate(grid.extra_names)]
    trace: dict[str, Any] = {}
    if channels:
        trace["customdata"] = np.stack(channels, axis=-1).astype(np.float32)
    if grid.text is not None:
        trace.update(text=grid.text.tolist(), texttemplate="%{text}", textfont={"size": 9})
    if grid.hover is not None:
        trace["hovertext"] = grid.hover.tolist()
        hover = "%{hovertext}"
    else:
        hover = "<br>".join([f"{grid.row_title} %{{y}}", f"{grid.col_title} %{{x}}", value, *lines])
    fig = go.Figure(
        go.Heatmap(
            z=colours.z,
            x=x,
            y=y,
            colorscale=grid.colorscale,
            zmin=colours.zmin,
            zmax=colours.zmax,
            colorbar={"title": {"text": grid.value + colours.suffix}, **colours.colorbar},
            hovertemplate=hover + "<extra></extra>",
            **trace,
        )
    )
    notes = [*grid.notes, colours.note] if colours.note else grid.notes
    base_layout(fig, grid.title, notes, height=max(360, min(900, 160 + 14 * n_rows)))
    if grid.col_title.startswith(("unit", "first unit")):  # numeric: let plotly space ticks
        fig.update_xaxes(title_text=grid.col_title)
    else:
        fig.update_xaxes(title_text=grid.col_title, **ticks(grid.cols, x), tickangle=-60)
    yaxis: dict[str, Any] = {"title_text": grid.row_title, **ticks(grid.rows, y)}
    if token_y:
        yaxis["autorange"] = "reversed"  # tokens read top to bottom
    fig.update_yaxes(**yaxis)
    slider(fig, views, grid.token_axis, active, coords=grid.positions)
    return fig


def attention_title(data: AttentionData, difference: str = "") -> str:
    """``Attention · model.layers.3.self_attn · layer 3 · head 1`` (or ``· 9 heads``)."""
    heads = f"head {data.heads[0]}" if len(data.heads) == 1 else f"{len(data.heads)} heads"
    title = f"Attention · {data.path} · layer {data.layer} · {heads}"
    return f"{title} · difference {difference}" if difference else title


def attention_figure(
    data: AttentionData,
    run: PromptRecord,
    views: list[StepView],
    *,
    active: int | None = None,
    scale: str = "robust",
    signed: bool = False,
) -> go.Figure:
    """Query × key weights of one layer, one colour range for every head (``scale``:
    ``robust`` keeps a few large weights, such as every query's weight on the first
    token, from darkening the rest); a menu picks the head when several are included.
    ``signed``: the weights are a difference (a diverging scale)."""
    labels = [token_label(run.tokens[p]) for p in data.positions]
    colours = colour_scale(data.weights, scale, signed=signed)
    value = "Δ weight" if signed else "weight"
    fig = go.Figure()
    for i, head in enumerate(data.heads):
        fig.add_trace(
            go.Heatmap(
                z=colours.z[i],
                colorscale="RdBu" if signed else "Viridis",
                zmin=colours.zmin,
                zmax=colours.zmax,
                visible=i == 0,
                colorbar={"title": {"text": value + colours.suffix}, **colours.colorbar},
                hovertemplate=f"head {head}<br>query %{{y}}<br>key %{{x}}<br>"
                f"{value} %{{z:.3f}}<extra></extra>",
            )
        )
    title = attention_title(data)
    notes = [*data.notes, colours.note]
    base_layout(fig, title, notes, height=max(420, min(1000, 200 + 10 * len(labels))))
    if len(data.heads) > 1:
        buttons = [
            {"method": "restyle", "label": f"head {h}",
             "args": [{"visible": [j == i for j in range(len(data.heads))]}]}
            for i, h in enumerate(data.heads)
        ]  # fmt: skip
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right",
                                        "y": 1.0, "yanchor": "bottom"}])  # fmt: skip
    fig.update_xaxes(title_text="key", **ticks(labels), tickangle=-60)
    fig.update_yaxes(title_text="query", **ticks(labels), autorange="reversed")
    slider(fig, views, "xy", active)
    return fig


def bundle(fig: go.Figure) -> dict[str, Any]:
    """The display bundle: plotly's MIME output (as its renderer builds it) and a text line."""
    as_json = json.loads(pio.to_json(fig.to_plotly_json(), validate=False, remove_uids=False))
    title = (fig.layout.title.text or "figure").split("<br>")[0]
    return {LIVE_MIME: {"source": MIME}, MIME: as_json, "text/plain": f"<plotly figure: {title}>"}


def bundle_bytes(fig: go.Figure) -> int:
    """Bytes of the bundle as a kernel sends it (jupyter_client packs UTF-8 JSON)."""
    return len(json.dumps(bundle(fig), ensure_ascii=False, allow_nan=False).encode())
