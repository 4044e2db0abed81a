"""Colour scales of heatmaps with unbounded values (norms, activations, differences).

    colours = colour_scale(grid.z, "robust", signed=False)
    colours.z, colours.zmin, colours.zmax   # what the heatmap colours, and its range
    colours.note                             # what the figure says about its scale

One outlier family (the first position's residual norm is ~100× every other) leaves
every other cell near one end of a min..max scale. ``robust`` (the default) ends the
colour range at the upper Tukey fence, Q3 + 3·IQR of the values (of their magnitudes
when they are signed): cells beyond it take the end colour, and the figure says where
the scale was cut and what the maximum is. ``full`` spans every value; ``log``
colours log10 of the values (views of non-negative values only) with ticks in the
values' own units. The hover always shows the value itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import ViewError

__all__ = ["SCALES", "Colours", "colour_scale", "normalize_scale", "scales_for"]

SCALES = ("robust", "full", "log")
_ALIASES = {"linear": "full", "minmax": "full", "clip": "robust", "percentile": "robust",
            "log10": "log"}  # fmt: skip
_FENCE = 3.0  # Tukey's "far out" fence: Q3 + 3·IQR


@dataclass
class Colours:
    """How a heatmap colours its values; see the module docstring."""

    z: np.ndarray  # float32: the values, or their log10 for scale="log"
    zmin: float | None
    zmax: float | None
    note: str  # one line for the figure, e.g. "colour clipped at 1.6e+03 (...)"
    suffix: str = ""  # for the colour bar's title: " (clipped)", " (log)"
    colorbar: dict[str, Any] = field(default_factory=dict)  # log ticks
    transformed: bool = False  # z is not the value itself: the hover reads customdata


def normalize_scale(scale: str | None) -> str:
    """``scale`` as one of :data:`SCALES` (``None``: ``robust``), or a ViewError."""
    if scale is None:
        return "robust"
    name = _ALIASES.get(scale.strip().lower(), scale.strip().lower())
    if name not in SCALES:
        raise ViewError(f"Unknown scale {scale!r}: pick one of {', '.join(SCALES)}.")
    return name


def scales_for(signed: bool) -> tuple[str, ...]:
    """The scales a view offers: ``log`` only for non-negative values."""
    return ("robust", "full") if signed else SCALES


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _log_ticks(low: float, high: float) -> dict[str, Any]:
    """Colour-bar ticks at round values (1, 2, 5 × 10^k) between 10^low and 10^high,
    labelled in the values' own units."""
    values: list[float] = []
    for mantissas in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        values = [m * 10.0**k for k in range(math.floor(low), math.ceil(high) + 1)
                  for m in mantissas if low <= math.log10(m * 10.0**k) <= high]  # fmt: skip
        if len(values) >= 3:
            break
    if len(values) < 2:
        values = [10.0**low, 10.0**high]
    return {"tickvals": [math.log10(v) for v in values], "ticktext": [_fmt(v) for v in values]}


def colour_scale(values: np.ndarray, scale: str, *, signed: bool) -> Colours:
    """The colour range of ``values`` under ``scale``; ``signed`` views get a range
    symmetric around 0 (a diverging colour scale)."""
    z = np.asarray(values, dtype=np.float32)
    finite = z[np.isfinite(z)]
    if not finite.size:
        return Colours(z, None, None, "colour: no finite value")
    magnitudes = np.abs(finite) if signed else finite
    top = float(magnitudes.max())
    if scale == "log":
        if signed or float(finite.min()) < 0:
            raise ViewError(
                "scale='log' needs values that are never negative (a norm, a weight); this "
                "view's values are signed: pick scale='robust' or scale='full'."
            )
        positive = finite[finite > 0]
        floor = float(positive.min()) if positive.size else 1.0
        logged = np.log10(np.maximum(z, floor)).astype(np.float32)
        low, high = math.log10(floor), math.log10(max(top, floor))
        colorbar = _log_ticks(low, high)
        return Colours(logged, low, high, "colour: log scale (scale='log')", " (log)",
                       colorbar, transformed=True)  # fmt: skip
    if scale == "robust":
        q1, q3 = (float(q) for q in np.percentile(magnitudes, [25, 75]))
        fence = q3 + _FENCE * (q3 - q1)
        if 0 < fence < top:
            if signed:
                note = (f"colour clipped at ±{_fmt(fence)} (Q3 + 3·IQR of |value|; max "
                        f"{_fmt(top)}): scale='full' shows the whole range")  # fmt: skip
                return Colours(z, -fence, fence, note, " (clipped)")
            others = "scale='full' or 'log' shows the whole range"
            note = f"colour clipped at {_fmt(fence)} (Q3 + 3·IQR; max {_fmt(top)}): {others}"
            return Colours(z, float(finite.min()), fence, note, " (clipped)")
    elif scale != "full":
        normalize_scale(scale)  # raises, naming the scales
    if signed:
        return Colours(z, -top, top, "colour: full range")
    return Colours(z, float(finite.min()), top, "colour: full range")
