"""Which patched runs share a forward: a cost-minimizing split of the sweep into batches.

    costs = Costs(call=7e-4, token=2.2e-5, forward=3.5e-3, head=3e-4)   # seconds
    cost, batches = plan(starts, firsts, depth=30, length=9, costs=costs, limit=512)
    # batches: [(start position, [row numbers]), ...]

Row ``r`` needs layers ``firsts[r]..depth-1`` on positions ``starts[r]..length-1``. A
batch computes from its lowest first layer and its earliest start, for every row in
it, so rows of one batch should be alike in both; yet each forward, each layer call
and each row's unembedding has a fixed cost, so batches should not be small either.
The plan cuts the rows into blocks of (a run of first layers) × (a run of start
positions): an outer dynamic program over runs of first layers (at most ``span`` of them),
an inner one over runs of positions, each block at most ``limit`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Costs", "chunks", "plan"]


@dataclass(frozen=True)
class Costs:
    """Seconds (or any common unit) for the parts of one batched forward."""

    call: float  # one layer call, whatever its size
    token: float  # one position of one row in one layer call
    forward: float  # one forward, besides its layers
    head: float  # one row's unembedding


def plan(
    starts: list[int],
    firsts: list[int],
    *,
    depth: int,
    length: int,
    costs: Costs,
    limit: int,
    span: int = 8,
) -> tuple[float, list[tuple[int, list[int]]]]:
    """The cheapest blocks of rows and their estimated cost (see the module docstring)."""
    if not starts:
        return 0.0, []
    layer_values = sorted(set(firsts))
    position_values = sorted(set(starts))
    fi = {f: i for i, f in enumerate(layer_values)}
    pi = {p: i for i, p in enumerate(position_values)}
    counts = np.zeros((len(layer_values), len(position_values)), dtype=np.int64)
    for f, p in zip(firsts, starts, strict=True):
        counts[fi[f], pi[p]] += 1

    def positions_of(lo: int, hi: int) -> tuple[float, list[tuple[int, int]]]:
        """Best cut of the position runs for first-layer indices lo..hi-1."""
        column = counts[lo:hi].sum(axis=0)
        prefix = np.concatenate([[0], np.cumsum(column)])
        layers = depth - layer_values[lo]
        n_pos = len(position_values)
        best = [0.0] + [float("inf")] * n_pos
        cut = [0] * (n_pos + 1)
        for j in range(1, n_pos + 1):
            for i in range(j - 1, -1, -1):
                rows = int(prefix[j] - prefix[i])
                if rows > limit:
                    break
                cost = best[i]
                if rows:
                    width = length - position_values[i]
                    cost += costs.forward + rows * costs.head
                    cost += layers * (costs.call + costs.token * rows * width)
                if cost < best[j]:
                    best[j], cut[j] = cost, i
        runs, j = [], n_pos
        while j > 0:
            runs.append((cut[j], j))
            j = cut[j]
        return best[n_pos], runs

    n_layers = len(layer_values)
    best = [0.0] + [float("inf")] * n_layers
    cut: list[tuple[int, list[tuple[int, int]]]] = [(0, [])] * (n_layers + 1)
    for k in range(1, n_layers + 1):
        for m in range(k - 1, max(0, k - span) - 1, -1):
            inner, runs = positions_of(m, k)
            if best[m] + inner < best[k]:
                best[k], cut[k] = best[m] + inner, (m, runs)
    blocks: dict[tuple[int, int, int, int], list[int]] = {}
    bounds = []
    k = n_layers
    while k > 0:
        m, runs = cut[k]
        bounds += [(m, k, i, j) for i, j in runs]
        k = m
    owner = {}
    for m, k, i, j in bounds:
        for f in layer_values[m:k]:
            for p in position_values[i:j]:
                owner[(f, p)] = (m, k, i, j)
    for row, (f, p) in enumerate(zip(firsts, starts, strict=True)):
        blocks.setdefault(owner[(f, p)], []).append(row)
    batches = []
    for (_, _, i, _), members in sorted(blocks.items()):
        for part in range(0, len(members), limit):
            batches.append((position_values[i], members[part : part + limit]))
    return best[n_layers], batches


def chunks(starts: list[int], firsts: list[int], size: int) -> list[tuple[int, list[int]]]:
    """Fixed-size batches of rows ordered by start position then first layer."""
    order = sorted(range(len(starts)), key=lambda r: (starts[r], firsts[r]))
    out = []
    for part in range(0, len(order), size):
        members = order[part : part + size]
        out.append((min(starts[r] for r in members), members))
    return out
