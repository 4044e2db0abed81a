"""Reductions: saved tensors -> small float32 grids with labels (no IPython, no plotly).

    grid = residual_norm(run, "model.layers")          # z: (layer, token) L2 norms
    grid = family_summary(run, "model.layers.*.mlp")   # z: (layer, token) L2 norms
    grid = module_output(run, "model.layers.5.mlp")    # z: (token, column) pooled units

Every :class:`Grid` is what one heatmap shows: ``z[row, col]`` float32, a label per row
and column, which axis holds token positions (so a generation step can show the prefix
up to its token), and ``notes``: every reduction applied (pooling, striding, windows),
which the figure prints. Sizes are bounded here, before anything is sent.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from ..exceptions import ViewError
from ._capture import PromptRecord

__all__ = [
    "MAX_COLUMNS",
    "MAX_TOKENS",
    "Grid",
    "complete_family",
    "family_paths",
    "family_summary",
    "layer_family",
    "module_output",
    "pool_columns",
    "residual_norm",
    "token_label",
    "window",
    "window_grid",
]

MAX_COLUMNS = 128  # unit columns of a module-output heatmap
MAX_TOKENS = 512  # token rows/columns of any heatmap without per-cell text
_LAYER = re.compile(r"^(?P<prefix>.+)\.(?P<index>\d+)$")
_LAYER_IN_PATH = re.compile(r"\.\d+(\.|$)")


@dataclass
class Grid:
    """One heatmap: ``z[row, col]`` and its labels.

    ``token_axis`` says which axes are token positions ("x", "y" or "xy");
    ``positions[i]`` is the absolute position of the i-th entry along that axis.
    ``text``/``hover`` are optional per-cell strings (object arrays shaped like ``z``);
    ``extra[row, col, i]`` more values the hover shows, each named by ``extra_names[i]``
    (a difference's two sides). ``signed``: values around 0 (a diverging colour scale).
    """

    z: np.ndarray  # (rows, cols) float32
    rows: list[str]
    cols: list[str]
    title: str
    value: str  # what z holds, for the colour bar and hover
    token_axis: str
    positions: list[int]
    notes: list[str] = field(default_factory=list)
    text: np.ndarray | None = None
    hover: np.ndarray | None = None
    colorscale: str = "Viridis"
    zmin: float | None = None
    zmax: float | None = None
    row_title: str = ""
    col_title: str = ""
    steps: list[int] | None = None  # the generation steps z covers (None: every saved one)
    signed: bool = False
    extra: np.ndarray | None = None  # (rows, cols, n) float32
    extra_names: list[str] = field(default_factory=list)


def token_label(token: str) -> str:
    """A token as an axis label: leading spaces and newlines made visible, kept short."""
    text = token.replace("\n", "⏎").replace("\t", "⇥")
    if text.startswith(" "):
        text = "␣" + text[1:]
    return text if len(text) <= 12 else text[:11] + "…"


def window(
    positions: list[int], limit: int, *, focus: int | None = None
) -> tuple[slice, str | None]:
    """The contiguous slice of at most ``limit`` entries of ``positions`` that ends at
    ``focus`` (an absolute position; default: the last one), and a note when cut."""
    n = len(positions)
    if n <= limit:
        return slice(0, n), None
    end = n
    if focus is not None and focus in positions:
        end = min(n, max(positions.index(focus) + 1, limit))
    start = end - limit
    note = f"positions {positions[start]}–{positions[end - 1]} of {n} (window of {limit})"
    return slice(start, end), note


def window_grid(grid: Grid, limit: int = MAX_TOKENS, *, focus: int | None = None) -> Grid:
    """``grid`` cut to a window of at most ``limit`` token positions ending at ``focus``
    (a grid reduced once over every position serves every window)."""
    cut, note = window(grid.positions, limit, focus=focus)
    if note is None:
        return grid
    labels = "cols" if "x" in grid.token_axis else "rows"
    z = grid.z[:, cut] if labels == "cols" else grid.z[cut]
    return dataclasses.replace(
        grid,
        z=z,
        positions=grid.positions[cut],
        notes=[*grid.notes, note],
        **{labels: getattr(grid, labels)[cut]},
    )


def pool_columns(x: np.ndarray, max_cols: int = MAX_COLUMNS) -> tuple[np.ndarray, str | None]:
    """``(rows, units)`` -> ``(rows, <= max_cols)``: the mean of consecutive groups of
    units, and the note saying so (``None`` when nothing was pooled)."""
    units = x.shape[1]
    if units <= max_cols:
        return x.astype(np.float32), None
    group = math.ceil(units / max_cols)
    cols = math.ceil(units / group)
    padded = np.full((x.shape[0], cols * group), np.nan, dtype=np.float32)
    padded[:, :units] = x
    pooled = np.nanmean(padded.reshape(x.shape[0], cols, group), axis=2)
    return pooled.astype(
        np.float32
    ), f"{units} units → {cols} columns: mean of {group} consecutive units"


def layer_family(run: PromptRecord, model: object | None = None) -> str:
    """The decoder-layer family of a run (``model.layers``, ``transformer.h``): the
    numbered module family with the most members among the saved paths."""
    counts: dict[str, int] = {}
    for path in run.paths():
        match = _LAYER.match(path)
        if match:
            counts[match["prefix"]] = counts.get(match["prefix"], 0) + 1
    if not counts:
        raise ViewError(
            f"No decoder layers were saved in {run.label}: a per-layer view needs the "
            "outputs of numbered layers (model.layers.0, model.layers.1, ...). Call "
            "invoker.save_all() inside the invoke block."
        )
    return max(counts, key=lambda prefix: (counts[prefix], -len(prefix)))


def family_paths(run: PromptRecord, pattern: str) -> list[tuple[int, str]]:
    """``[(layer index, path)]`` of the saved paths matching ``pattern``: one ``*``
    standing for a layer number (``model.layers.*.mlp``); a bare prefix such as
    ``model.layers`` means ``model.layers.*``."""
    if "*" not in pattern:
        pattern += ".*"
    head, _, tail = pattern.partition("*")
    regex = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + "$")
    found = sorted((int(m.group(1)), path) for path in run.paths() if (m := regex.match(path)))
    if not found:
        patterns = sorted({_LAYER_IN_PATH.sub(r".*\1", p, count=1) for p in run.paths()})
        close = difflib.get_close_matches(pattern, [p for p in patterns if "*" in p], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ViewError(
            f"No saved module matches {pattern!r} in {run.label}.{hint} Saved families look "
            f"like {layer_family(run)}.*; save the modules (invoker.save_all()) or pick "
            "another pattern."
        )
    return found


def complete_family(
    run: PromptRecord, pattern: str, step: int | None = None
) -> tuple[list[tuple[int, str]], list[int]]:
    """The members of a family saved at ``step`` and the steps where every one of them
    was saved (so each member covers the same positions). ``step=None``: the step that
    saved the most members (the latest of those). A module saved at some steps only
    (``model.layers.5.output.save()`` after ``next()``) leaves the other steps' complete
    set alone."""
    found = family_paths(run, pattern)

    def at(s: int) -> list[tuple[int, str]]:
        return [(i, path) for i, path in found if path in run.steps.get(s, {})]

    chosen = max(run.step_list, key=lambda s: (len(at(s)), s)) if step is None else step
    members = at(chosen)
    if not members:
        with_any = [s for s in run.step_list if at(s)]
        raise ViewError(
            f"No module matching {pattern!r} was saved at step {chosen} of {run.label}; "
            f"pass step= one of {with_any}."
        )
    steps = [s for s in run.step_list if all(p in run.steps[s] for _, p in members)]
    return members, steps


def family_summary(
    run: PromptRecord,
    pattern: str,
    *,
    upto: int | None = None,
    step: int | None = None,
    max_tokens: int = MAX_TOKENS,
    focus: int | None = None,
) -> Grid:
    """Layer × token: the L2 norm over units of each module of a family
    (``model.layers.*.mlp``) at each position: the members saved at ``step``, over the
    steps that saved all of them (see :func:`complete_family`); a window of
    ``max_tokens`` positions ending at ``focus`` (default: the last)."""
    members, steps = complete_family(run, pattern, step)
    rows: list[torch.Tensor] = []
    positions: list[int] = []
    units = 0

    def norm(piece: torch.Tensor) -> torch.Tensor:  # (positions, ...) -> (positions,)
        nonlocal units
        units = piece[0].numel() if len(piece) else units
        norms: torch.Tensor = torch.linalg.vector_norm(piece.reshape(piece.shape[0], -1), dim=-1)
        return norms

    for _, path in members:  # norms step by step: no copy of any activation
        row, positions = run.activation(path, upto, steps=steps, reduce=norm)
        rows.append(row)
    if len({r.shape[0] for r in rows}) != 1:
        raise ViewError(
            f"The modules of {pattern!r} cover different positions; show them one by one."
        )
    norms = torch.stack(rows).cpu().numpy().astype(np.float32)
    cut, note = window(positions, max_tokens, focus=focus)
    notes = [f"L2 norm over {units} units"] + ([note] if note else [])
    shown = positions[cut]
    name = pattern if "*" in pattern else pattern + ".*"
    return Grid(
        z=norms[:, cut],
        rows=[str(i) for i, _ in members],
        cols=[token_label(run.tokens[p]) for p in shown],
        title=f"{name} output norm",
        value="L2 norm",
        token_axis="x",
        positions=shown,
        notes=notes,
        row_title="layer",
        col_title="token",
        steps=steps,
    )


def residual_norm(
    run: PromptRecord,
    family: str | None = None,
    *,
    upto: int | None = None,
    step: int | None = None,
    max_tokens: int = MAX_TOKENS,
    focus: int | None = None,
) -> Grid:
    """Layer × token: the L2 norm of the residual stream (each decoder layer's output)."""
    grid = family_summary(
        run,
        family or layer_family(run),
        upto=upto,
        step=step,
        max_tokens=max_tokens,
        focus=focus,
    )
    grid.title = f"Residual norm · {grid.title.removesuffix(' output norm')}"
    return grid


def module_output(
    run: PromptRecord,
    path: str,
    *,
    upto: int | None = None,
    max_cols: int = MAX_COLUMNS,
    max_tokens: int = MAX_TOKENS,
    focus: int | None = None,
) -> Grid:
    """Token × unit of one module's output, units pooled to at most ``max_cols``
    columns (mean of consecutive units), tokens to a window of ``max_tokens`` ending
    at ``focus`` (default: the last)."""
    tensor, positions = run.activation(path, upto)
    cut, note = window(positions, max_tokens, focus=focus)
    flat = tensor[cut].reshape(cut.stop - cut.start, -1).cpu().numpy()
    pooled, pool_note = pool_columns(flat, max_cols)
    group = math.ceil(flat.shape[1] / pooled.shape[1])
    shown = positions[cut]
    return Grid(
        z=pooled,
        rows=[token_label(run.tokens[p]) for p in shown],
        cols=[str(i * group) for i in range(pooled.shape[1])],
        title=f"{path} output",
        value="mean activation" if pool_note else "activation",
        token_axis="y",
        positions=shown,
        notes=[n for n in (pool_note, note) if n],
        colorscale="RdBu",
        signed=True,
        row_title="token",
        col_title="unit" if group == 1 else f"first unit of each group of {group}",
        steps=[s for s in run.step_list if path in run.steps[s]],
    )
