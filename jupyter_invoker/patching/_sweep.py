"""The exact patching sweep: every patched run, batched, reusing what no patch changes.

    sweep = Sweep(model, layout, pair, rows)        # captures the clean and corrupted runs
    values = sweep.run(metric, batch_size=None)     # (rows,): the metric of each patched run

A patched run restores one site of the corrupted run from the clean run. Nothing below
the patched layer changes, and in a causal model nothing before the patched position
does, so a patched run only needs layers ``l..`` on positions ``p..``: the layers below
are stubbed with the corrupted run's residual stream, and the positions before ``p``
come from the corrupted run's key/value cache. Rows that start at the same position
share forwards, many rows per batch (``_plan.py`` splits them into batches of rows
alike in layer and position, by measured costs, each within a memory bound).

Both shortcuts are checked once per sweep against the corrupted run itself (an
unpatched row must give its logits): a model whose cache or layer outputs do not fit
them falls back to full-length rows or to computing every layer, never to a wrong
result.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any

import torch

from ._inputs import Metric, Pair, evaluate
from ._plan import Costs, chunks, plan
from ._runs import Captured, Row, capture, patched_forward
from ._sites import Layout

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["MEMORY_BUDGET", "Sweep"]

MEMORY_BUDGET = 256 * 2**20  # bytes of activations per batched forward, by default
_CHECK_ATOL = 1e-3
# Per model: (seconds per layer call, per position in a layer call, per forward, per row's
# unembedding), measured by the first sweep.
_COSTS: weakref.WeakKeyDictionary[Any, Costs] = weakref.WeakKeyDictionary()


class Sweep:
    """The clean and corrupted runs of a pair, and the batched patched runs of ``rows``."""

    def __init__(self, lm: LanguageModel, layout: Layout, pair: Pair, rows: list[Row]) -> None:
        self.lm, self.layout, self.pair, self.rows = lm, layout, pair, rows
        wanted = {(row.site, row.layer) for row in rows}
        self.clean: Captured = capture(lm, layout, pair.clean, wanted)
        self.corrupt: Captured = capture(lm, layout, pair.corrupt, wanted, keep_cache=True)
        self.reuse_cache, self.stub_layers = self._check_shortcuts()
        self.forwards = 0  # how many batched forwards the last run() made

    # ------------------------------------------------------------------ shortcuts
    def _check_shortcuts(self) -> tuple[bool, bool]:
        """Which shortcuts give the corrupted run's own logits on this model."""
        length, depth = self.pair.length, self.layout.n_layers
        tries = [(True, True), (False, True), (True, False)]
        for reuse, stub in tries:
            start = length - 1 if reuse else 0
            try:
                logits = patched_forward(
                    self.lm, self.layout, self.pair.corrupt, self.clean, self.corrupt, [],
                    start=start, stub_below=depth // 2 if stub else 0, batch=1,
                )  # fmt: skip
            except (TypeError, ValueError, AttributeError, RuntimeError, IndexError):
                continue
            if torch.allclose(logits[0], self.corrupt.logits, atol=_CHECK_ATOL, rtol=1e-4):
                return reuse, stub
        return False, False

    # ------------------------------------------------------------------ batches
    def batches(self, batch_size: int | None) -> list[tuple[int, list[int]]]:
        """``(start position, row numbers)`` of each batched forward: ``batch_size`` rows
        each when given, else the plan that minimizes the measured costs (``_plan.py``)."""
        starts = [row.position if self.reuse_cache else 0 for row in self.rows]
        firsts = [row.first_layer if self.stub_layers else 0 for row in self.rows]
        if batch_size is not None:
            return chunks(starts, firsts, batch_size)
        _, batches = plan(
            starts, firsts, depth=self.layout.n_layers, length=self.pair.length,
            costs=self.costs(), limit=self._rows_that_fit(0), span=16,
        )  # fmt: skip
        return batches

    def costs(self) -> Costs:
        """Seconds per layer call, per position in a layer call, per forward and per
        row's unembedding, measured on this model once (then remembered)."""
        hf = self.lm.hf_model
        known = _COSTS.get(hf)
        if known is None:
            known = _COSTS[hf] = self._measure()
        return known

    def _measure(self) -> Costs:
        depth, length = self.layout.n_layers, self.pair.length
        computed = min(4, depth)
        layer = self.lm._module(self.layout.module("resid", depth - 1))
        spent: list[float] = []
        handles = [
            layer.register_forward_pre_hook(lambda *_: spent.append(-time.perf_counter())),
            layer.register_forward_hook(lambda *_: spent.__setitem__(-1, spent[-1] + time.perf_counter())),
        ]  # fmt: skip
        timings = {}
        try:
            for rows in (1, 16, 1, 16):
                spent.clear()
                began = time.perf_counter()
                patched_forward(
                    self.lm, self.layout, self.pair.corrupt, self.clean, self.corrupt, [],
                    start=0, stub_below=depth - computed, batch=rows,
                )  # fmt: skip
                total = time.perf_counter() - began
                timings[rows] = (spent[-1], total)  # the second round: warm
        finally:
            for handle in handles:
                handle.remove()
        (one, total_one), (many, _) = timings[1], timings[16]
        token = max((many - one) / (15 * length), 1e-9)
        call = max(one - token * length, 0.0)
        forward = max(total_one - computed * one, 0.0)
        return Costs(call, token, forward, token * self._lm_head_units())

    def _lm_head_units(self) -> float:
        """The unembedding of one position, in positions of one layer (parameter counts)."""
        layer = self.lm._module(self.layout.module("resid", 0))
        per_layer = sum(p.numel() for p in layer.parameters()) or 1
        vocab = self.corrupt.logits.shape[-1]
        return vocab * self.layout.d_model / per_layer

    def _rows_that_fit(self, start: int) -> int:
        """Rows per forward that keep its activations under MEMORY_BUDGET (estimated)."""
        config = self.lm.hf_model.config
        d = self.layout.d_model
        inner = int(getattr(config, "intermediate_size", None) or 4 * d)
        kv_heads = int(getattr(config, "num_key_value_heads", None) or self.layout.n_heads)
        length = self.pair.length
        suffix = length - start
        per_position = 8 * d + 3 * inner + 2 * self.layout.n_heads * length
        cache = 2 * self.layout.n_layers * kv_heads * self.layout.head_dim * length
        per_row = 4 * (suffix * per_position + cache + 2 * self.corrupt.logits.shape[-1])
        return max(1, MEMORY_BUDGET // per_row)

    # ------------------------------------------------------------------ run
    def run(self, metric: Metric, batch_size: int | None = None) -> torch.Tensor:
        """``metric`` of every patched run, ``(rows,)`` (evaluated batch by batch, so the
        logits of only one batch are held at a time)."""
        values = torch.empty(len(self.rows))
        self.forwards = 0
        for start, members in self.batches(batch_size):
            rows = [self.rows[i] for i in members]
            below = min(row.first_layer for row in rows) if self.stub_layers else 0
            logits = patched_forward(
                self.lm, self.layout, self.pair.corrupt, self.clean, self.corrupt, rows,
                start=start, stub_below=below,
            )  # fmt: skip
            values[members] = evaluate(metric, logits).detach().float().cpu()
            self.forwards += 1
        return values
