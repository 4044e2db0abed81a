"""Figures of the model's own predictions: the logit lens (alone, side by side, as a
difference) and the top tokens per position.

    fig = lens_figure(data, run, decode, lens, steps, focus=12)
    fig = compare_lens_figure([(data_a, run_a), (data_b, run_b)], decode, lens)
    fig = lens_difference_figure(data_a, data_b, run_a, decode, lens, "invoke 1", "invoke 2")
    grid = top_tokens_grid(tokens, run, decode)      # a Grid for grid_figure

The logit lens's right panel follows one position's final top-k tokens across
layers; the figure's own step slider moves it to the step's last token (or the chosen
position, when the step has reached it), so with no kernel the panel never shows a
token the step has not produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._capture import PromptRecord
from ._figures import StepView, base_layout, notes_text, slider, ticks
from ._reduce import Grid, token_label
from ._reduce_lens import Lens, LensData
from ._reduce_tokens import TokenData

__all__ = [
    "MAX_TRAJECTORY_POSITIONS",
    "compare_lens_figure",
    "lens_difference_figure",
    "lens_figure",
    "top_tokens_grid",
]

MAX_TRAJECTORY_POSITIONS = 32  # positions in the trajectory panel's menu
Decode = Callable[[list[int]], list[str]]


def _names(ids: np.ndarray, decode: Decode) -> dict[int, str]:
    unique = np.unique(ids).tolist()
    return dict(zip(unique, (token_label(t) for t in decode(unique)), strict=True))


def _hover(data: LensData, decode: Decode, run: PromptRecord) -> tuple[np.ndarray, np.ndarray]:
    names = _names(data.top_ids, decode)
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


def _chosen(views: list[StepView], focus_index: int | None, n_pos: int) -> list[int]:
    """The trajectory's position (an index of the lens's positions) at each step: the
    chosen one once the step has reached it, else the step's last token."""
    if not views:
        return [n_pos - 1 if focus_index is None else focus_index]
    return [
        view.count - 1 if focus_index is None or focus_index >= view.count else focus_index
        for view in views
    ]


def lens_figure(
    data: LensData,
    run: PromptRecord,
    decode: Decode,
    lens: Lens,
    views: list[StepView],
    *,
    active: int | None = None,
    focus: int | None = None,
) -> go.Figure:
    """Logit lens: layer × token heatmap (top-1 token as text, its probability as colour,
    top-k in hover) and, beside it, the final top-k tokens' probability at every layer
    for one position (a menu picks the position; the step slider moves it too)."""
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
    focus_index = data.positions.index(focus) if focus in data.positions else None
    per_step = _chosen(views, focus_index, n_pos)
    shown_now = per_step[len(per_step) - 1 if active is None else active]
    first = max(0, n_pos - MAX_TRAJECTORY_POSITIONS)
    shown = sorted({*range(first, n_pos), *per_step})
    lookup = _names(data.top_ids[-1, shown, :], decode)
    tracked = [f"{token_label(decode([t])[0])} (tracked)" for t in data.track]

    # One line per rank (and per tracked token); the position menu and the step slider
    # swap their data and names in place, so the figure holds k lines, not k per position.
    def lines(pi: int) -> tuple[list[np.ndarray], list[str]]:
        xs = [data.trajectories[pi, rank] for rank in range(k)]
        names = [lookup[int(t)] for t in data.top_ids[-1, pi]]
        if data.tracked is not None:
            xs += [data.tracked[:, pi, t] for t in range(len(data.track))]
            names += tracked
        return xs, names

    def restyle(pi: int) -> dict[str, Any]:
        xs, names = lines(pi)
        return {"x": [np.round(x.astype(np.float64), 3).tolist() for x in xs], "name": names}

    xs, names = lines(shown_now)
    for i, (x, name) in enumerate(zip(xs, names, strict=True)):
        style = {"line": {"dash": "dash", "width": 3}} if i >= k else {"marker": {"size": 3}}
        fig.add_trace(
            go.Scatter(x=x.astype(np.float32), y0=0, dy=1, name=name,
                       mode="lines" if i >= k else "lines+markers", **style,
                       hovertemplate="%{fullData.name} p=%{x:.3f}<extra></extra>"),
            row=1, col=2,
        )  # fmt: skip
    indices = list(range(1, len(fig.data)))
    buttons = [
        {"method": "restyle", "args": [restyle(pi), indices],
         "label": f"pos {data.positions[pi]} {token_label(run.tokens[data.positions[pi]])}"}
        for pi in shown
    ]  # fmt: skip
    title = f"Logit lens · {lens.layers}.* → {lens.norm_path} → {lens.head_path}"
    notes = [*data.notes, f"top-{k} in hover"]
    if len(shown) < n_pos:
        notes.append(f"trajectories for {len(shown)} positions")
    base_layout(fig, title, notes, height=max(420, min(1100, 180 + 18 * n_layers)))
    fig.update_layout(margin={"l": 150})  # the colour bar sits left of the layer axis
    fig.update_layout(
        updatemenus=[{"buttons": buttons, "active": shown.index(shown_now), "x": 1.0,
                      "xanchor": "right", "y": 1.0, "yanchor": "bottom", "direction": "down"}],
        showlegend=True,
        legend={"x": 1.0, "xanchor": "right", "y": 0.0, "yanchor": "bottom", "font": {"size": 10}},
    )  # fmt: skip
    cols = [token_label(run.tokens[p]) for p in data.positions]
    fig.update_xaxes(title_text="token", **ticks(cols), tickangle=-60, row=1, col=1)
    fig.update_xaxes(title_text="p(final top-k token)", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="layer", **ticks([str(i) for i in data.layers]), row=1, col=1)
    _mark_generated(fig, run, data.positions)
    follow = [(restyle(pi), indices, {"updatemenus[0].active": shown.index(pi)}) for pi in per_step]
    slider(fig, views, "x", active, traces=follow if len(views) > 1 else None)
    return fig


def compare_lens_figure(
    pairs: list[tuple[LensData, PromptRecord]], decode: Decode, lens: Lens
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
        fig.update_xaxes(**ticks(cols), tickangle=-60, row=1, col=col)
        notes += [f"{run.label}: {n}" for n in data.notes]
    fig.update_yaxes(
        title_text="layer", **ticks([str(i) for i in pairs[0][0].layers]), row=1, col=1
    )
    k = pairs[0][0].top_ids.shape[2]
    title = f"Logit lens side by side · {lens.layers}.* → {lens.norm_path} → {lens.head_path}"
    annotations = [a.to_plotly_json() for a in fig.layout.annotations]  # the subplot titles
    n_layers = len(pairs[0][0].layers)
    all_notes = [*notes, f"top-{k} in hover"]
    base_layout(fig, title, all_notes, height=max(420, min(1100, 180 + 18 * n_layers)))
    note = {"text": notes_text(all_notes), "xref": "paper", "yref": "paper",
            "x": 0, "y": 1.08, "yanchor": "bottom", "showarrow": False,
            "font": {"size": 10, "color": "#666"}}  # fmt: skip
    fig.layout.annotations = [note, *annotations]
    fig.update_layout(margin={"l": 150, "t": 110})
    return fig


def lens_difference_figure(
    a: LensData,
    b: LensData,
    run: PromptRecord,
    decode: Decode,
    lens: Lens,
    label_a: str,
    label_b: str,
    views: list[StepView],
    *,
    active: int | None = None,
) -> go.Figure:
    """Run A − run B on the logit lens: each cell's colour is how much more likely A
    makes A's top-1 token than B does (``b.gathered`` holds B's probabilities of A's
    top-k), on one diverging scale; the text is A's top-1 and the hover lists A's
    top-k with both probabilities."""
    if b.gathered is None:
        raise ValueError("lens_difference_figure needs b computed with gather=a.top_ids.")
    delta = (a.top_probs[:, :, 0] - b.gathered[:, :, 0]).astype(np.float32)
    names = _names(a.top_ids, decode)
    n_layers, n_pos, k = a.top_ids.shape
    text = np.empty((n_layers, n_pos), dtype=object)
    hover = np.empty((n_layers, n_pos), dtype=object)
    for li in range(n_layers):
        for pi in range(n_pos):
            ids = a.top_ids[li, pi]
            text[li, pi] = names[int(ids[0])]
            lines = "<br>".join(
                f"{names[int(t)]} {pa:.3f} − {pb:.3f} = {pa - pb:+.3f}"
                for t, pa, pb in zip(ids, a.top_probs[li, pi], b.gathered[li, pi], strict=True)
            )
            src = token_label(run.tokens[a.positions[pi]])
            hover[li, pi] = f"L{a.layers[li]} · {src} → ({label_a} − {label_b})<br>{lines}"
    limit = max(float(np.abs(delta).max()), 1e-3)
    fig = go.Figure(
        go.Heatmap(
            z=delta, text=text.tolist(), texttemplate="%{text}", textfont={"size": 9},
            hovertext=hover.tolist(), hovertemplate="%{hovertext}<extra></extra>",
            colorscale="RdBu", zmin=-limit, zmax=limit,
            colorbar={"title": {"text": "Δ p(top-1)"}},
        )
    )  # fmt: skip
    title = (f"Logit lens difference {label_a} − {label_b} · p of {label_a}'s top-1 · "
             f"{lens.layers}.* → {lens.norm_path} → {lens.head_path}")  # fmt: skip
    notes = [*a.notes, f"top-{k} in hover",
             f"difference: p under {label_a} − p under {label_b}, of {label_a}'s tokens"]  # fmt: skip
    base_layout(fig, title, notes, height=max(420, min(1100, 180 + 18 * n_layers)))
    cols = [token_label(run.tokens[p]) for p in a.positions]
    fig.update_xaxes(title_text="token", **ticks(cols), tickangle=-60)
    fig.update_yaxes(title_text="layer", **ticks([str(i) for i in a.layers]))
    slider(fig, views, "x", active)
    return fig


def top_tokens_grid(data: TokenData, run: PromptRecord, decode: Decode) -> Grid:
    """The model's next-token top-k at each position as a heatmap: one row per token,
    one column per rank, the token as text, its probability as colour."""
    names = _names(data.ids, decode)
    n_pos, k = data.ids.shape
    text = np.empty((n_pos, k), dtype=object)
    hover = np.empty((n_pos, k), dtype=object)
    for pi, position in enumerate(data.positions):
        src = token_label(run.tokens[position])
        for rank in range(k):
            name = names[int(data.ids[pi, rank])]
            text[pi, rank] = name
            hover[pi, rank] = (f"pos {position} · after {src} →<br>rank {rank + 1}: {name} "
                               f"{data.probs[pi, rank]:.3f}")  # fmt: skip
    return Grid(
        z=data.probs,
        rows=[token_label(run.tokens[p]) for p in data.positions],
        cols=[str(rank + 1) for rank in range(k)],
        title=f"Top tokens · {data.path} · the next token's top-{k} after each token",
        value="p",
        token_axis="y",
        positions=data.positions,
        notes=data.notes,
        text=text,
        hover=hover,
        colorscale="Blues",
        zmin=0.0,
        zmax=1.0,
        row_title="token",
        col_title="rank",
        steps=data.steps,
    )


def _mark_generated(fig: go.Figure, run: PromptRecord, positions: list[int]) -> None:
    boundary = sum(1 for p in positions if p < run.n_prompt)
    if 0 < boundary < len(positions):
        fig.add_vline(x=boundary - 0.5, line={"dash": "dot", "color": "#d62728"}, row=1, col=1)
