"""Difference views: run A − run B (patched − clean), or each token − the one before
(step t − t−1 of a generate run), on one diverging colour scale.

    grid = grid_difference(patched_grid, clean_grid, "invoke 1", "invoke 2")
    grid = step_difference(residual_norm(run))
    grid.z          # A − B (float32, NaN where one side is missing)
    grid.extra      # (rows, cols, 2): A and B themselves, for the hover

Both sides must cover the same positions: a patched run and its clean run share
the prompt length and the saved steps; otherwise a ViewError says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..exceptions import ViewError
from ._capture import PromptRecord
from ._reduce import Grid

__all__ = ["check_same_positions", "grid_difference", "step_difference"]


def check_same_positions(a: PromptRecord, b: PromptRecord) -> None:
    """A ViewError unless ``a`` and ``b`` cover the same token positions and steps."""
    if len(a.tokens) != len(b.tokens) or a.step_list != b.step_list:
        raise ViewError(
            f"A difference needs two runs over the same positions: {a.label} has "
            f"{len(a.tokens)} tokens (steps {a.step_list}), {b.label} has {len(b.tokens)} "
            f"(steps {b.step_list}). Pick a run with the same prompt length (a patched run "
            "and its clean run), or show them side by side with compare=."
        )


def grid_difference(a: Grid, b: Grid, label_a: str, label_b: str) -> Grid:
    """``a − b`` cell by cell; the hover keeps both sides."""
    if a.z.shape != b.z.shape or a.positions != b.positions or a.rows != b.rows:
        raise ViewError(
            f"{label_a} and {label_b} show different cells here ({a.z.shape[0]} × "
            f"{a.z.shape[1]} vs {b.z.shape[0]} × {b.z.shape[1]}): a difference needs the "
            "same rows and positions on both sides."
        )
    return dataclasses.replace(
        a,
        z=(a.z - b.z).astype(np.float32),
        title=f"{a.title} · difference {label_a} − {label_b}",
        value=f"Δ {a.value}",
        notes=[*a.notes, f"difference: {label_a} − {label_b}"],
        colorscale="RdBu",
        signed=True,
        extra=np.stack([a.z, b.z], axis=-1).astype(np.float32),
        extra_names=[label_a, label_b],
    )


def step_difference(a: Grid) -> Grid:
    """Each token's entry minus the previous token's (along the token axis): for the
    tokens of a generate run, step t − step t−1. The first token has no predecessor
    (NaN)."""
    axis = 1 if "x" in a.token_axis else 0
    previous = np.roll(a.z, 1, axis=axis).astype(np.float32)
    if axis == 1:
        previous[:, 0] = np.nan
    else:
        previous[0, :] = np.nan
    return dataclasses.replace(
        a,
        z=(a.z - previous).astype(np.float32),
        title=f"{a.title} · difference: each token − the one before (step t − t−1)",
        value=f"Δ {a.value}",
        notes=[*a.notes, "difference: token t − token t−1"],
        colorscale="RdBu",
        signed=True,
        extra=np.stack([a.z, previous], axis=-1).astype(np.float32),
        extra_names=["this token", "token before"],
    )
