"""``patch`` and ``attribute``: the two public entry points.

result = patch(model, "The Eiffel Tower is in the city of",
                      "The Colosseum is in the city of", sites=("resid", "heads"))
estimate = attribute(model, "The Eiffel Tower is in the city of",
                            "The Colosseum is in the city of", sites=("resid", "heads"))
result.show(estimate)            # side by side, and the difference
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from ..exceptions import PatchingError
from ..tracing import LanguageModel
from ._attribute import site_gradients
from ._inputs import LogitDifference, Metric, Pair, evaluate, logit_difference, prepare_pair
from ._result import PatchResult
from ._runs import Row
from ._sites import POSITION_SITES, Layout, check_indices, check_sites, find_layout
from ._sweep import Sweep

__all__ = ["attribute", "patch"]

Sites = str | Iterable[str]


def patch(
    model: LanguageModel,
    clean: Any,
    corrupt: Any,
    *,
    sites: Sites = ("resid",),
    layers: Sequence[int] | int | None = None,
    positions: Sequence[int] | int | None = None,
    metric: Callable[[torch.Tensor], torch.Tensor] | None = None,
    answer: str | int | None = None,
    wrong: str | int | None = None,
    batch_size: int | None = None,
) -> PatchResult:
    """The activation-patching sweep: run ``corrupt``, restore one site from ``clean``, and
    measure how much of the clean behaviour returns, for every site asked for.

    ``clean``/``corrupt``: strings, token ids or chat messages of the same token length.
    ``sites``: ``resid``, ``attn``, ``mlp`` (each layer × position) and ``heads`` (layer ×
    head, every position). ``layers``/``positions``: numbers (negative from the end),
    default all. ``metric``: a callable on the final position's logits ``(rows, vocab)``
    returning ``(rows,)``; by default the logit difference ``answer − wrong`` (default: the
    clean and corrupted runs' top tokens), normalized so corrupt = 0 and clean = 1.
    ``batch_size``: patched runs per forward (default: as many as fit 256 MB).

    Patched runs are batched many to a forward, and a run restored at layer l and position
    p computes only layers l.. and positions p.. (the rest is the corrupted run's)."""
    setup = _Setup(model, clean, corrupt, sites, layers, positions, metric, answer, wrong)
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise PatchingError(f"batch_size is a number of rows, 1 or more; got {batch_size!r}.")
    rows = setup.rows()
    sweep = Sweep(model, setup.layout, setup.pair, rows)
    chosen = setup.metric(sweep.clean.logits, sweep.corrupt.logits)
    clean_value, corrupt_value = _values(chosen, sweep.clean.logits, sweep.corrupt.logits)
    values = sweep.run(chosen, batch_size) - corrupt_value  # in the order of setup.rows()
    position_sites = setup.position_sites
    cut = len(position_sites) * len(setup.layers) * len(setup.positions)
    effect = values[:cut].reshape(len(position_sites), len(setup.layers), len(setup.positions))
    heads = values[cut:].reshape(len(setup.layers), -1) if "heads" in setup.sites else None
    return setup.result(effect, heads, "patch", chosen, clean_value, corrupt_value)


def attribute(
    model: LanguageModel,
    clean: Any,
    corrupt: Any,
    *,
    sites: Sites = ("resid",),
    layers: Sequence[int] | int | None = None,
    positions: Sequence[int] | int | None = None,
    metric: Callable[[torch.Tensor], torch.Tensor] | None = None,
    answer: str | int | None = None,
    wrong: str | int | None = None,
) -> PatchResult:
    """Attribution patching: the first-order estimate of :func:`patch`,
    ``(clean − corrupt) · ∂metric/∂activation``, from one forward of the clean prompt and
    one forward + backward of the corrupted one. Same arguments and result type as
    :func:`patch`, so the two heatmaps sit side by side (``result.show(estimate)``)."""
    setup = _Setup(model, clean, corrupt, sites, layers, positions, metric, answer, wrong)
    got = site_gradients(model, setup.layout, setup.pair, setup.sites, setup.layers, setup.metric)
    dots: dict[tuple[str, int], torch.Tensor] = {}
    for key, grad in got.grads.items():
        product = (got.clean[key].float() - got.corrupt[key].float()) * grad.float()
        if key[0] == "heads":
            per_head = product.reshape(product.shape[0], setup.layout.n_heads, -1)
            dots[key] = per_head.sum(dim=(0, 2))
        else:
            dots[key] = product.sum(-1)
    clean_value, corrupt_value = _values(got.metric, got.clean_logits, got.corrupt_logits)
    at = torch.tensor(setup.positions, dtype=torch.long)
    effect = torch.zeros(len(setup.position_sites), len(setup.layers), len(setup.positions))
    for i, site in enumerate(setup.position_sites):
        for j, layer in enumerate(setup.layers):
            effect[i, j] = dots[(site, layer)].detach().cpu()[at]
    heads: torch.Tensor | None = None
    if "heads" in setup.sites:
        heads = torch.stack([dots[("heads", layer)].detach().cpu() for layer in setup.layers])
    return setup.result(effect, heads, "attribution", got.metric, clean_value, corrupt_value)


class _Setup:
    """The checked arguments shared by patch() and attribute()."""

    def __init__(
        self,
        model: Any,
        clean: Any,
        corrupt: Any,
        sites: Sites,
        layers: Sequence[int] | int | None,
        positions: Sequence[int] | int | None,
        metric: Callable[[torch.Tensor], torch.Tensor] | None,
        answer: str | int | None,
        wrong: str | int | None,
    ) -> None:
        if not isinstance(model, LanguageModel):
            raise PatchingError(
                f"Patching runs on a jupyter_invoker LanguageModel, not a "
                f"{type(model).__name__}: wrap a transformers model with "
                "LanguageModel(hf_model, tokenizer=tokenizer)."
            )
        if model._active_generator is not None:
            raise PatchingError(
                "A trace or generate context is open on this model; run patching after it."
            )
        if metric is not None and (answer is not None or wrong is not None):
            raise PatchingError(
                "Pass either metric= or answer=/wrong= (which choose the default metric's "
                "tokens), not both."
            )
        if metric is not None and not callable(metric):
            raise PatchingError(
                f"metric is a callable on the final logits (rows, vocab) returning (rows,); "
                f"got {type(metric).__name__}."
            )
        self.model = model
        self.layout: Layout = find_layout(model)
        self.sites = check_sites(sites)
        if "heads" in self.sites:
            self._check_heads()
        self.pair: Pair = prepare_pair(model, clean, corrupt)
        self.layers = check_indices(layers, self.layout.n_layers, "layer")
        self.positions = check_indices(positions, self.pair.length, "position")
        self._metric, self._answer, self._wrong = metric, answer, wrong

    def _check_heads(self) -> None:
        layout = self.layout
        if layout.out_proj is None:
            raise PatchingError(
                f"Cannot patch heads of {type(self.model.hf_model).__name__}: its attention "
                "block has no output projection named o_proj, c_proj, out_proj or dense."
            )

    def metric(self, clean_logits: torch.Tensor, corrupt_logits: torch.Tensor) -> Metric:
        if self._metric is not None:
            return self._metric
        return logit_difference(
            self.model, clean_logits, corrupt_logits, answer=self._answer, wrong=self._wrong
        )

    def rows(self) -> list[Row]:
        rows = [
            Row(site, layer, position)
            for site in self.sites
            if site in POSITION_SITES
            for layer in self.layers
            for position in self.positions
        ]
        if "heads" in self.sites:
            heads = range(self.layout.n_heads)
            rows += [Row("heads", layer, head) for layer in self.layers for head in heads]
        return rows

    @property
    def position_sites(self) -> tuple[str, ...]:
        return tuple(s for s in self.sites if s in POSITION_SITES)

    def result(
        self,
        effect: torch.Tensor,
        heads: torch.Tensor | None,
        method: str,
        metric: Metric,
        clean_value: float,
        corrupt_value: float,
    ) -> PatchResult:
        """``effect``: (position site, layer, position); ``heads``: (layer, head)."""
        position_sites = self.position_sites
        effect = effect.detach().to(torch.float32)
        heads = None if heads is None else heads.detach().to(torch.float32)
        name = metric.name if isinstance(metric, LogitDifference) else _callable_name(metric)
        return PatchResult(
            effect=effect, head_effect=heads, sites=position_sites, layers=list(self.layers),
            positions=list(self.positions), tokens=self.pair.tokens,
            corrupt_tokens=self.pair.corrupt_tokens, method=method, metric=name,
            clean_value=clean_value, corrupt_value=corrupt_value,
        )  # fmt: skip


def _values(metric: Metric, clean: torch.Tensor, corrupt: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        both = evaluate(metric, torch.stack([clean, corrupt]))
    return float(both[0]), float(both[1])


def _callable_name(metric: Any) -> str:
    name = getattr(metric, "__name__", None) or type(metric).__name__
    return "a metric" if name == "<lambda>" else f"metric {name}"
