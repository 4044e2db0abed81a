"""Attribution patching: ``(clean − corrupt) · ∂metric/∂activation`` from one forward and
one backward instead of one patched run per site.

    got = site_gradients(model, layout, pair, ("resid", "heads"), layers, make_metric)
    got.grads[("resid", 3)]      # (pos, d_model): ∂metric/∂(layer 3's output)
    got.grads[("heads", 3)]      # (pos, n_heads * head_dim): at the output projection's input

The run is a ``model.trace(grad=True)``: the body reads every site it needs, in the
order the model produces them, and the gradients of the metric reach them because the
model continues from the very values the body holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..tracing import ModuleHandle
from ..tracing._tensor import unwrap
from ._inputs import Metric, Pair, evaluate
from ._runs import last_logits_only
from ._sites import Layout

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["Gradients", "site_gradients"]

# Within a layer the model produces the output projection's input first, then the
# attention block's output, the MLP's, and the layer's own.
_ORDER = ("heads", "attn", "mlp", "resid")


def site_gradients(
    lm: LanguageModel,
    layout: Layout,
    pair: Pair,
    sites: tuple[str, ...],
    layers: list[int],
    make_metric: Callable[[torch.Tensor, torch.Tensor], Metric],
) -> Gradients:
    """Both runs' activations and ``∂metric/∂activation`` of the corrupted run at every
    (site, layer); ``make_metric`` builds the metric from the two runs' final logits.

    Both prompts go through one batched forward (row 0 clean, row 1 corrupted): the
    rows do not interact, so the corrupted row's gradients are those of a run of its
    own, and each layer's fixed cost is paid once instead of twice."""
    acts: dict[tuple[str, int], torch.Tensor] = {}
    both = torch.cat([pair.clean, pair.corrupt])
    with lm.trace(both, grad=True, **last_logits_only(lm)):
        for layer in layers:
            for site in _ORDER:
                if site not in sites:
                    continue
                handle = ModuleHandle(lm, layout.module(site, layer))
                value = handle.input if site == "heads" else handle.output
                acts[(site, layer)] = value[0] if isinstance(value, tuple) else value
        logits = unwrap(lm.lm_head.output[:, -1]).float()
        final = logits.detach()
        metric = make_metric(final[0], final[1])
        value = evaluate(metric, logits[1:]).sum()
        keys = list(acts)
        grads = torch.autograd.grad(value, [acts[k] for k in keys], allow_unused=True)
    clean, corrupt, out = {}, {}, {}
    for key, grad in zip(keys, grads, strict=True):
        act = unwrap(acts[key]).detach()
        clean[key], corrupt[key] = act[0], act[1]
        out[key] = torch.zeros_like(act[1]) if grad is None else unwrap(grad)[1].detach()
    return Gradients(clean, corrupt, out, metric, final[0], final[1])


@dataclass
class Gradients:
    """What the batched forward and the backward gave."""

    clean: dict[tuple[str, int], torch.Tensor]  # (site, layer) -> (pos, width)
    corrupt: dict[tuple[str, int], torch.Tensor]
    grads: dict[tuple[str, int], torch.Tensor]  # ∂metric/∂(corrupted activation)
    metric: Metric  # the metric, as built from the final logits below
    clean_logits: torch.Tensor  # (vocab,), the final position
    corrupt_logits: torch.Tensor
