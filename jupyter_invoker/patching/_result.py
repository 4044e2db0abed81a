"""``PatchResult``: the effect of every site, with the labels its axes need.

    result.effect                 # (site, layer, position) for resid / attn / mlp
    result.head_effect            # (layer, head), when "heads" was asked for
    result["mlp"]                 # one site's (layer, position) (or (layer, head)) grid
    result.show()                 # the heatmap; result.show(other) side by side + difference
    result.to_dataframe()         # one row per cell (pandas, when installed)
    result - other                # a difference result (e.g. sweep − attribution)

``effect`` is how far the metric moves from the corrupted run's value when the site
is restored from the clean run: exactly for :func:`patch`, to first order for
:func:`attribute`. With the default metric (normalized logit difference) 0 means
"nothing restored" and 1 "the clean answer fully restored".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from ..exceptions import PatchingError
from ._figure import patch_figure
from ._sites import SITES

__all__ = ["PatchResult"]


@dataclass(frozen=True)
class PatchResult:
    """The effects of a patching sweep or an attribution, and what they were measured on."""

    effect: torch.Tensor  # (site, layer, position), float32, for `sites`
    head_effect: torch.Tensor | None  # (layer, head), float32
    sites: tuple[str, ...]  # the position sites of `effect`, in its order
    layers: list[int]  # the layer number of each row of `effect` / `head_effect`
    positions: list[int]  # the position of each column of `effect`
    tokens: list[str]  # every token of the clean prompt, decoded
    corrupt_tokens: list[str]
    method: str  # "patch", "attribution" or "difference"
    metric: str  # what was measured, in words
    clean_value: float  # the metric on the clean run
    corrupt_value: float  # the metric on the corrupted run

    @property
    def n_heads(self) -> int:
        return 0 if self.head_effect is None else int(self.head_effect.shape[1])

    def __getitem__(self, site: str) -> torch.Tensor:
        """One site's grid: ``(layer, position)``, or ``(layer, head)`` for ``heads``."""
        if site == "heads" and self.head_effect is not None:
            return self.head_effect
        if site in self.sites:
            return self.effect[self.sites.index(site)]
        asked = [*self.sites, *(["heads"] if self.head_effect is not None else [])]
        raise PatchingError(
            f"This result has no site {site!r}: it holds {', '.join(asked)} "
            f"(sites are {', '.join(SITES)})."
        )

    def __sub__(self, other: PatchResult) -> PatchResult:
        """The cell-by-cell difference of two results over the same sites and axes."""
        if not isinstance(other, PatchResult):
            return NotImplemented
        same = (
            self.sites == other.sites
            and self.layers == other.layers
            and self.positions == other.positions
            and (self.head_effect is None) == (other.head_effect is None)
        )
        if not same:
            raise PatchingError(
                "Only results over the same sites, layers and positions can be subtracted: "
                f"{self._axes()} against {other._axes()}."
            )
        heads = None
        if self.head_effect is not None and other.head_effect is not None:
            heads = self.head_effect - other.head_effect
        return replace(
            self,
            effect=self.effect - other.effect,
            head_effect=heads,
            method="difference",
            metric=f"{self.method} − {other.method}: {self.metric}",
        )

    def _axes(self) -> str:
        heads = " + heads" if self.head_effect is not None else ""
        return f"sites {list(self.sites)}{heads}, layers {self.layers}, positions {self.positions}"

    def labels(self) -> list[str]:
        """``"5: ␣Tower"``: one label per column of ``effect`` (unique even when tokens repeat)."""
        return [f"{p}: {self.tokens[p]}" for p in self.positions]

    def records(self) -> list[dict[str, Any]]:
        """One dict per cell: site, layer, position (or head), token, effect."""
        rows: list[dict[str, Any]] = []
        effect = self.effect.tolist()  # Python floats at once, not one tensor read per cell
        for s, site in enumerate(self.sites):
            for i, layer in enumerate(self.layers):
                for j, position in enumerate(self.positions):
                    rows.append({"site": site, "layer": layer, "position": position,
                                 "head": None, "token": self.tokens[position],
                                 "effect": effect[s][i][j]})  # fmt: skip
        if self.head_effect is not None:
            heads = self.head_effect.tolist()
            for i, layer in enumerate(self.layers):
                for head in range(self.n_heads):
                    rows.append({"site": "heads", "layer": layer, "position": None,
                                 "head": head, "token": None,
                                 "effect": heads[i][head]})  # fmt: skip
        return rows

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per cell (:meth:`records` without pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "PatchResult.to_dataframe() needs pandas, which jupyter_invoker does not "
                "require: `pip install pandas`, or use result.records() (a list of dicts)."
            ) from exc
        return pd.DataFrame.from_records(
            self.records(), columns=["site", "layer", "position", "head", "token", "effect"]
        )

    def figure(self, other: PatchResult | None = None) -> Any:
        """The heatmap as a plotly ``go.Figure`` (with ``other``: both and their difference)."""
        return patch_figure(self, other)

    def show(self, other: PatchResult | None = None) -> None:
        """Display the heatmap (plotly's own output, as the activation browser's figures:
        it renders in a reopened notebook, with no kernel); ``other`` puts a second
        result and the difference beside it."""
        from IPython.display import display

        from ..widgets._figures import bundle

        display(bundle(self.figure(other)), raw=True)

    def __repr__(self) -> str:
        heads = f", heads {tuple(self.head_effect.shape)}" if self.head_effect is not None else ""
        return (
            f"<PatchResult {self.method}: {self.metric}; effect {tuple(self.effect.shape)} "
            f"(site, layer, position) for {list(self.sites)}{heads}>"
        )
