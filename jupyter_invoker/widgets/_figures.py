"""Plotly figures from reductions: plain ``go.Figure``s, shown as plotly's own MIME type.

    fig = grid_figure(grid, steps)              # any Grid (residual, module, family)
    fig = lens_figure(data, run, decode, lens, steps)
    fig = attention_figure(data, run, steps)
    bundle(fig)  # {"application/vnd.plotly.v1+json": ..., "text/plain": ...}

Arrays go out as float32 (plotly's binary encoding), axes are numeric with token
labels as tick text (so repeated tokens stay separate columns), one colour scale per
view, and the title says view, module, step and reductions. A generate run's step
slider lives in the figure itself: each step shows the prefix of the token axis up to
that step's token (a relayout of the axis range, no data repeated), so stepping works
with no kernel. No FigureWidget, no script, no CDN.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from ._reduce import Grid, token_label
from ._reduce_attention import AttentionData
from ._reduce_lens import Lens, LensData
from ._source import Run

__all__ = [
    "MIME",
    "StepView",
    "attention_figure",
    "bundle",
    "bundle_bytes",
    "compare_lens_figure",
    "grid_figure",
    "lens_figure",
    "step_views",
]

MIME = "application/vnd.plotly.v1+json"
# Our JupyterLab extension's renderer, ranked above plotly's, draws the MIME figure
# with Plotly.react on every update (plotly's own renderer ignores updates).
LIVE_MIME = "application/vnd.jupyter-invoker.plotly+json"
MAX_TRAJECTORY_POSITIONS = 32
_FONT = {"family": "monospace", "size": 11}


@dataclass
class StepView:
    """What the figure's slider shows at one generation step."""

    step: int
    count: int  # entries of the token axis visible at this step
    label: str  # the slider tick
    title: str  # the title at this step


def step_views(
    run: Run,
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


def _notes_text(notes: list[str]) -> str:
    return "reduced: " + "; ".join(notes) if notes else "not reduced"


def _base_layout(fig: go.Figure, title: str, notes: list[str], height: int) -> None:
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
            {"text": _notes_text(notes), "xref": "paper", "yref": "paper", "x": 0, "y": 1.0,
             "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": "#666"}}
        ],
    )  # fmt: skip


def _slider(fig: go.Figure, views: list[StepView], axes: str, active: int | None) -> None:
    """A step slider that moves the token axis range (``axes``: "x", "y" or "xy")."""
    if len(views) < 2:
        if views:
            fig.update_layout(title_text=views[-1].title)
        return
    chosen = len(views) - 1 if active is None else active
    steps: list[dict[str, Any]] = []
    for view in views:
        relayout: dict[str, Any] = {"title.text": view.title}
        if "x" in axes:
            relayout["xaxis.range"] = [-0.5, view.count - 0.5]
        if "y" in axes:
            relayout["yaxis.range"] = [view.count - 0.5, -0.5]
        steps.append({"method": "relayout", "label": view.label, "args": [relayout]})
    fig.update_layout(
        sliders=[{"active": chosen, "steps": steps, "currentvalue": {"prefix": "step "},
                  "pad": {"t": 50}, "len": 1.0}],
        title_text=views[chosen].title,
    )  # fmt: skip
    current: dict[str, Any] = steps[chosen]["args"][0]
    if "xaxis.range" in current:
        fig.layout.xaxis.range = current["xaxis.range"]
    if "yaxis.range" in current:
        fig.layout.yaxis.range = current["yaxis.range"]


def _ticks(labels: list[str]) -> dict[str, Any]:
    return {"tickmode": "array", "tickvals": list(range(len(labels))), "ticktext": labels}


def grid_figure(grid: Grid, views: list[StepView], *, active: int | None = None) -> go.Figure:
    """A heatmap of any :class:`Grid` with its step slider."""
    rows = grid.z.shape[0]
    fig = go.Figure(
        go.Heatmap(
            z=grid.z.astype(np.float32),
            colorscale=grid.colorscale,
            zmin=grid.zmin,
            zmax=grid.zmax,
            colorbar={"title": {"text": grid.value}},
            hovertemplate=f"{grid.row_title} %{{y}}<br>{grid.col_title} %{{x}}<br>"
            f"{grid.value} %{{z:.4g}}<extra></extra>",
        )
    )
    _base_layout(fig, grid.title, grid.notes, height=max(360, min(900, 160 + 14 * rows)))
    if grid.col_title.startswith(("unit", "first unit")):  # numeric: let plotly space ticks
        fig.update_traces(x=[int(c) for c in grid.cols])
        fig.update_xaxes(title_text=grid.col_title)
    else:
        fig.update_xaxes(title_text=grid.col_title, **_ticks(grid.cols), tickangle=-60)
    yaxis: dict[str, Any] = {"title_text": grid.row_title, **_ticks(grid.rows)}
    if "y" in grid.token_axis:
        yaxis["autorange"] = "reversed"  # tokens read top to bottom
    fig.update_yaxes(**yaxis)
    _slider(fig, views, grid.token_axis, active)
    return fig


def _hover(
    data: LensData, decode: Callable[[list[int]], list[str]], run: Run
) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(data.top_ids)
    names = dict(zip(ids.tolist(), (token_label(t) for t in decode(ids.tolist())), strict=True))
    n_layers, n_pos = data.top_ids.shape[:2]
    text = np.empty((n_layers, n_pos), dtype=object)
    hover = np.empty((n_layers, n_pos), dtype=object)
    for li in range(n_layers):
        for pi in range(n_pos):
            top = data.top_ids[li, pi]
            probs = data.top_probs[li, pi]
            text[li, pi] = names[int(top[0])]
            lines = "<br>".join(f"{names[int(t)]} {p:.3f}" for t, p in zip(top, probs, strict=True))
            src = token_label(run.tokens[data.positions[pi]])
            hover[li, pi] = f"L{data.layers[li]} · {src} →<br>{lines}"
    return text, hover


def lens_figure(
    data: LensData,
    run: Run,
    decode: Callable[[list[int]], list[str]],
    lens: Lens,
    views: list[StepView],
    *,
    active: int | None = None,
    focus: int | None = None,
) -> go.Figure:
    """Logit lens: layer × token heatmap (top-1 token as text, its probability as colour,
    top-k in hover) and, beside it, the final top-k tokens' probability at every layer
    for one position (a menu picks the position)."""
    n_layers, n_pos, k = data.top_ids.shape
    text, hover = _hover(data, decode, run)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.78, 0.22],
                        horizontal_spacing=0.02)  # fmt: skip
    fig.add_trace(
        go.Heatmap(
            z=data.top_probs[:, :, 0].astype(np.float32),
            text=text.tolist(),
            texttemplate="%{text}",
            textfont={"size": 9},
            hovertext=hover.tolist(),
            hovertemplate="%{hovertext}<extra></extra>",
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": "p(top-1)"}, "x": -0.1, "xanchor": "right", "len": 0.6},
        ),
        row=1,
        col=1,
    )
    first = max(0, n_pos - MAX_TRAJECTORY_POSITIONS)
    shown = list(range(first, n_pos))
    chosen = (
        n_pos - 1 if focus is None or focus not in data.positions else data.positions.index(focus)
    )
    chosen = max(chosen, first)
    final_names = decode(sorted({int(t) for t in data.top_ids[-1, first:, :].ravel()}))
    lookup = dict(
        zip(sorted({int(t) for t in data.top_ids[-1, first:, :].ravel()}), final_names, strict=True)
    )

    # One line per rank (and per tracked token); the position menu swaps their data
    # and names in place, so the figure holds k lines, not k per position.
    def lines(pi: int) -> tuple[list[np.ndarray], list[str]]:
        xs = [data.trajectories[pi, rank] for rank in range(k)]
        names = [token_label(lookup[int(t)]) for t in data.top_ids[-1, pi]]
        for t, token_id in enumerate(data.track):
            if data.tracked is not None:
                xs.append(data.tracked[:, pi, t])
                names.append(f"{token_label(decode([token_id])[0])} (tracked)")
        return xs, names

    xs, names = lines(chosen)
    for i, (x, name) in enumerate(zip(xs, names, strict=True)):
        style = {"line": {"dash": "dash", "width": 3}} if i >= k else {"marker": {"size": 3}}
        fig.add_trace(
            go.Scatter(x=x.astype(np.float32), y0=0, dy=1, name=name,
                       mode="lines" if i >= k else "lines+markers", **style,
                       hovertemplate="%{fullData.name} p=%{x:.4f}<extra></extra>"),
            row=1, col=2,
        )  # fmt: skip
    indices = list(range(1, len(fig.data)))
    buttons = []
    for pi in shown:
        xs, names = lines(pi)
        update = {"x": [np.round(x.astype(np.float64), 5).tolist() for x in xs], "name": names}
        label = f"pos {data.positions[pi]} {token_label(run.tokens[data.positions[pi]])}"
        buttons.append({"method": "restyle", "label": label, "args": [update, indices]})
    title = f"Logit lens · {lens.layers}.* → {lens.norm_path} → {lens.head_path}"
    notes = [*data.notes, f"top-{k} in hover"]
    if first:
        notes.append(f"trajectories for the last {len(shown)} positions")
    _base_layout(fig, title, notes, height=max(420, min(1100, 180 + 18 * n_layers)))
    fig.update_layout(margin={"l": 150})  # the colour bar sits left of the layer axis
    fig.update_layout(
        updatemenus=[{"buttons": buttons, "active": shown.index(chosen), "x": 1.0,
                      "xanchor": "right", "y": 1.0, "yanchor": "bottom", "direction": "down"}],
        showlegend=True,
        legend={"x": 1.0, "xanchor": "right", "y": 0.0, "yanchor": "bottom", "font": {"size": 10}},
    )  # fmt: skip
    cols = [token_label(run.tokens[p]) for p in data.positions]
    fig.update_xaxes(title_text="token", **_ticks(cols), tickangle=-60, row=1, col=1)
    fig.update_xaxes(title_text="p(final top-k token)", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="layer", **_ticks([str(i) for i in data.layers]), row=1, col=1)
    _mark_generated(fig, run, data.positions)
    _slider(fig, views, "x", active)
    return fig


def compare_lens_figure(
    pairs: list[tuple[LensData, Run]], decode: Callable[[list[int]], list[str]], lens: Lens
) -> go.Figure:
    """Logit lenses of several prompts side by side: one shared colour scale and layer
    axis, top-1 text and top-k hover in each (the last step; no slider)."""
    fig = make_subplots(rows=1, cols=len(pairs), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[run.label for _, run in pairs])  # fmt: skip
    notes: list[str] = []
    for col, (data, run) in enumerate(pairs, start=1):
        text, hover = _hover(data, decode, run)
        fig.add_trace(
            go.Heatmap(z=data.top_probs[:, :, 0].astype(np.float32), text=text.tolist(),
                       texttemplate="%{text}", textfont={"size": 9}, hovertext=hover.tolist(),
                       hovertemplate="%{hovertext}<extra></extra>", colorscale="Blues",
                       zmin=0.0, zmax=1.0, showscale=col == 1,
                       colorbar={"title": {"text": "p(top-1)"}, "x": -0.1, "xanchor": "right"}),
            row=1, col=col,
        )  # fmt: skip
        cols = [token_label(run.tokens[p]) for p in data.positions]
        fig.update_xaxes(**_ticks(cols), tickangle=-60, row=1, col=col)
        notes += [f"{run.label}: {n}" for n in data.notes]
    fig.update_yaxes(
        title_text="layer", **_ticks([str(i) for i in pairs[0][0].layers]), row=1, col=1
    )
    k = pairs[0][0].top_ids.shape[2]
    title = f"Logit lens side by side · {lens.layers}.* → {lens.norm_path} → {lens.head_path}"
    annotations = [a.to_plotly_json() for a in fig.layout.annotations]  # the subplot titles
    n_layers = len(pairs[0][0].layers)
    _base_layout(
        fig, title, [*notes, f"top-{k} in hover"], height=max(420, min(1100, 180 + 18 * n_layers))
    )
    note = {"text": _notes_text([*notes, f"top-{k} in hover"]), "xref": "paper", "yref": "paper",
            "x": 0, "y": 1.08, "yanchor": "bottom", "showarrow": False,
            "font": {"size": 10, "color": "#666"}}  # fmt: skip
    fig.layout.annotations = [note, *annotations]
    fig.update_layout(margin={"l": 150, "t": 110})
    return fig


def _mark_generated(fig: go.Figure, run: Run, positions: list[int]) -> None:
    boundary = sum(1 for p in positions if p < run.n_prompt)
    if 0 < boundary < len(positions):
        fig.add_vline(x=boundary - 0.5, line={"dash": "dot", "color": "#d62728"}, row=1, col=1)


def attention_figure(
    data: AttentionData, run: Run, views: list[StepView], *, active: int | None = None
) -> go.Figure:
    """Query × key weights of one layer; a menu picks the head when several are included."""
    labels = [token_label(run.tokens[p]) for p in data.positions]
    fig = go.Figure()
    for i, head in enumerate(data.heads):
        fig.add_trace(
            go.Heatmap(
                z=data.weights[i].astype(np.float32),
                colorscale="Viridis",
                zmin=0.0,
                zmax=1.0,
                visible=i == 0,
                colorbar={"title": {"text": "weight"}},
                hovertemplate=f"head {head}<br>query %{{y}}<br>key %{{x}}<br>weight %{{z:.3f}}<extra></extra>",
            )
        )
    title = f"Attention · {data.path} · layer {data.layer}"
    _base_layout(fig, title, data.notes, height=max(420, min(1000, 200 + 10 * len(labels))))
    if len(data.heads) > 1:
        buttons = [
            {"method": "restyle", "label": f"head {h}",
             "args": [{"visible": [j == i for j in range(len(data.heads))]}]}
            for i, h in enumerate(data.heads)
        ]  # fmt: skip
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right",
                                        "y": 1.0, "yanchor": "bottom"}])  # fmt: skip
    fig.update_xaxes(title_text="key", **_ticks(labels), tickangle=-60)
    fig.update_yaxes(title_text="query", **_ticks(labels), autorange="reversed")
    _slider(fig, views, "xy", active)
    return fig


def bundle(fig: go.Figure) -> dict[str, Any]:
    """The display bundle: plotly's MIME output (as its renderer builds it) and a text line."""
    as_json = json.loads(pio.to_json(fig.to_plotly_json(), validate=False, remove_uids=False))
    title = fig.layout.title.text or "figure"
    return {LIVE_MIME: {"source": MIME}, MIME: as_json, "text/plain": f"<plotly figure: {title}>"}


def bundle_bytes(fig: go.Figure) -> int:
    """Bytes of the bundle as a kernel sends it (jupyter_client packs UTF-8 JSON)."""
    return len(json.dumps(bundle(fig), ensure_ascii=False, allow_nan=False).encode())
