"""Paired timing: the one measurement loop every ratio in benchmarks/ uses.

    paired(traced, plain, pairs=15)  # {"ratio": median of per-pair ratios, "traced_ms", "plain_ms"}
                                     # plus "ratio_q1"/"ratio_q3", the spread of the ratios

The two calls alternate (which goes first flips every pair) in one process, so slow
drifts of the machine cancel out of the per-pair ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def paired(
    traced: Callable[[], Any], plain: Callable[[], Any], pairs: int, *, warmup: int = 2
) -> dict[str, float]:
    for _ in range(warmup):  # caches, allocator, the dry run that orders modules
        traced()
        plain()
    ratios, t_traced, t_plain = [], [], []
    for i in range(pairs):
        order = (traced, plain) if i % 2 == 0 else (plain, traced)
        times = {}
        for fn in order:
            start = time.perf_counter()
            fn()
            times[fn] = time.perf_counter() - start
        ratios.append(times[traced] / times[plain])
        t_traced.append(times[traced])
        t_plain.append(times[plain])
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {
        "ratio": statistics.median(ratios),
        "ratio_q1": quartiles[0],
        "ratio_q3": quartiles[2],
        "traced_ms": 1e3 * statistics.median(t_traced),
        "plain_ms": 1e3 * statistics.median(t_plain),
    }
