"""attribute(): (clean − corrupt) · ∂metric/∂activation, equal to the formula computed
with plain torch hooks; the same result type as patch(), side by side and as a difference."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel

CLEAN = "The Eiffel Tower is in the city of"
CORRUPT = "The Colosseum is in the city of"
SITES = ("resid", "attn", "mlp", "heads")


def _module(model: LanguageModel, site: str, layer: int) -> torch.nn.Module:
    block = model.hf_model.model.layers[layer]
    return {"resid": block, "attn": block.self_attn, "mlp": block.mlp}.get(
        site, block.self_attn.o_proj
    )


def _run(model: LanguageModel, prompt: str, *, grad: bool) -> tuple[dict[Any, Any], torch.Tensor]:
    """Every site of every layer (batch row 0) and the final logits, with plain hooks."""
    acts: dict[tuple[str, int], torch.Tensor] = {}
    handles = []

    def keep(key: tuple[str, int]) -> Any:
        def hook(_m: Any, args: Any, output: Any = None) -> None:
            value = args[0] if key[0] == "heads" else output
            value = value[0] if isinstance(value, tuple) else value
            if grad:
                value.retain_grad()
            acts[key] = value

        return hook

    for layer in range(30):
        for site in SITES:
            module = _module(model, site, layer)
            key = (site, layer)
            if site == "heads":
                handles.append(module.register_forward_pre_hook(keep(key)))
            else:
                handles.append(module.register_forward_hook(keep(key)))
    ids = model.tokenizer(prompt, return_tensors="pt").input_ids
    try:
        with torch.set_grad_enabled(grad):
            logits = model.hf_model(input_ids=ids, use_cache=False).logits[0, -1]
    finally:
        for handle in handles:
            handle.remove()
    return acts, logits


def test_attribution_equals_the_gradient_formula_with_plain_hooks(
    model: LanguageModel, leaves_nothing
) -> None:
    result = ji.attribute(model, CLEAN, CORRUPT, sites=SITES)
    clean, clean_logits = _run(model, CLEAN, grad=False)
    corrupt, logits = _run(model, CORRUPT, grad=True)
    answer, wrong = int(clean_logits.argmax()), int(logits.argmax())
    high = float(clean_logits[answer] - clean_logits[wrong])
    low = float((logits[answer] - logits[wrong]).detach())
    ((logits[answer] - logits[wrong] - low) / (high - low)).backward()
    model.hf_model.zero_grad(set_to_none=True)
    for s, site in enumerate(("resid", "attn", "mlp")):
        for layer in range(30):
            key = (site, layer)
            formula = ((clean[key][0] - corrupt[key][0].detach()) * corrupt[key].grad[0]).sum(-1)
            assert torch.allclose(result.effect[s, layer], formula, atol=1e-5), key
    for layer in range(30):
        key = ("heads", layer)
        product = (clean[key][0] - corrupt[key][0].detach()) * corrupt[key].grad[0]
        formula = product.reshape(9, 9, 64).sum(dim=(0, 2))  # (position, head, dim) -> head
        assert torch.allclose(result.head_effect[layer], formula, atol=1e-5), key
    assert result.method == "attribution" and result.corrupt_value == pytest.approx(0.0, abs=1e-5)


def test_attribution_sits_beside_the_sweep(model: LanguageModel) -> None:
    options = {"sites": ("resid", "heads"), "layers": [3, 20, 29], "positions": [2, 8]}
    swept = ji.patch(model, CLEAN, CORRUPT, **options)
    estimate = ji.attribute(model, CLEAN, CORRUPT, **options)
    assert type(estimate) is type(swept)
    assert estimate.effect.shape == swept.effect.shape == (1, 3, 2)
    assert estimate.head_effect.shape == swept.head_effect.shape == (3, 9)
    difference = swept - estimate
    assert difference.method == "difference"
    assert torch.allclose(difference.effect, swept.effect - estimate.effect)
    # the last position's residual stream late on restores the answer, exactly and to first order
    assert float(swept["resid"][2, 1]) == pytest.approx(1.0, abs=1e-4)
    assert float(estimate["resid"][2, 1]) > 0.5
    fig = swept.figure(estimate)
    assert [a.text for a in fig.layout.annotations][:2] == [
        "patch: residual stream", "patch: heads"
    ]  # fmt: skip
    assert len(fig.data) == 6  # (patch, attribution, difference) × (resid, heads)
