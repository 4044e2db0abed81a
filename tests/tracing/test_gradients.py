"""Gradients reach the values a body reads (``trace(grad=True)``, ``generate(grad=True)``),
equal to the same computation with plain torch hooks on the HF model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from jupyter_invoker import LanguageModel

HELLO = "Hello World"
PARIS = "The Eiffel Tower is in the city of"


@pytest.fixture(autouse=True)
def no_parameter_grads(model: LanguageModel) -> Iterator[None]:
    """Backward also fills the parameters' .grad: drop it, so tests stay independent."""
    yield
    model.hf_model.zero_grad(set_to_none=True)


def plain_grad(
    model: LanguageModel,
    prompt: str,
    module: torch.nn.Module,
    *,
    kind: str = "output",
    use_cache: bool = False,
    loss: Callable[[Any], torch.Tensor] = lambda out: out.logits.sum(),
) -> torch.Tensor:
    """``d loss / d <module's output or first input>`` with plain forward hooks."""
    box: dict[str, torch.Tensor] = {}

    def keep_output(_m: Any, _args: Any, output: torch.Tensor) -> None:
        output.retain_grad()
        box["h"] = output

    def keep_input(_m: Any, args: Any) -> None:
        args[0].retain_grad()
        box["h"] = args[0]

    handle = (
        module.register_forward_hook(keep_output)
        if kind == "output"
        else module.register_forward_pre_hook(keep_input)
    )
    ids = model.tokenizer(prompt, return_tensors="pt")
    try:
        with torch.enable_grad():
            out = model.hf_model(
                **ids, use_cache=use_cache, **({"logits_to_keep": 1} if use_cache else {})
            )
    finally:
        handle.remove()
    loss(out).backward()
    grad = box["h"].grad
    assert grad is not None
    model.hf_model.zero_grad(set_to_none=True)
    return grad


def test_retain_grad_and_backward_fill_the_grad_of_a_read_output(
    model: LanguageModel, clean_after
) -> None:
    # The example: the body got an alias off the autograd path and h.grad stayed None.
    with model.trace(HELLO, grad=True):
        h = model.model.layers[-1].output
        h.retain_grad()
        model.lm_head.output.sum().backward()
    assert h.grad is not None
    reference = plain_grad(model, HELLO, model.hf_model.model.layers[-1])
    assert torch.allclose(h.grad, reference, rtol=0, atol=1e-5)
    assert abs(float(h.grad.abs().sum()) - 114561.03) / 114561.03 < 1e-5


def test_autograd_grad_of_a_read_output(model: LanguageModel, clean_after) -> None:
    with model.trace(PARIS, grad=True):
        h = model.model.layers[12].output
        logits = model.lm_head.output
        (grad,) = torch.autograd.grad(logits[0, -1].logsumexp(-1), h)
    reference = plain_grad(
        model, PARIS, model.hf_model.model.layers[12], loss=lambda o: o.logits[0, -1].logsumexp(-1)
    )
    assert torch.allclose(grad, reference, rtol=0, atol=1e-5)


def test_gradients_of_input_and_inputs(model: LanguageModel, clean_after) -> None:
    with model.trace(PARIS, grad=True):
        first = model.model.layers[7].input
        first.retain_grad()
        args, _kwargs = model.model.layers[20].inputs
        args[0].retain_grad()
        model.lm_head.output.sum().backward()
    assert first.grad is not None and args[0].grad is not None
    layers = model.hf_model.model.layers
    assert torch.allclose(first.grad, plain_grad(model, PARIS, layers[7], kind="input"), atol=1e-5)
    assert torch.allclose(
        args[0].grad, plain_grad(model, PARIS, layers[20], kind="input"), atol=1e-5
    )


def test_gradients_under_generate(model: LanguageModel, clean_after) -> None:
    with model.generate(PARIS, max_new_tokens=2, grad=True) as generator:
        first = model.model.layers[3].self_attn.o_proj.input  # step 0: the whole prompt
        first.retain_grad()
        args, _kwargs = model.model.layers[8].inputs
        args[0].retain_grad()
        h = model.model.layers[15].output
        h.retain_grad()
        model.lm_head.output.sum().backward()  # under generate: the last position only
    assert generator.invoker is not None and generator.invoker.text
    layers = model.hf_model.model.layers
    assert torch.allclose(
        h.grad, plain_grad(model, PARIS, layers[15], use_cache=True), rtol=0, atol=1e-5
    )
    reference = plain_grad(model, PARIS, layers[3].self_attn.o_proj, kind="input", use_cache=True)
    assert torch.allclose(first.grad, reference, rtol=0, atol=1e-5)
    reference = plain_grad(model, PARIS, layers[8], kind="input", use_cache=True)
    assert torch.allclose(args[0].grad, reference, rtol=0, atol=1e-5)
    assert "forward" not in vars(model.hf_model)  # the grad switch is gone with the run


def test_without_grad_nothing_is_recorded(model: LanguageModel) -> None:
    with model.trace(PARIS):
        plain = model.model.layers[3].output
    with model.generate(PARIS, max_new_tokens=1):
        generated = model.model.layers[3].output
    assert not plain.requires_grad and not generated.requires_grad


def test_a_gradient_flows_through_an_assigned_value(model: LanguageModel, clean_after) -> None:
    with model.trace(PARIS, grad=True):
        h = model.model.layers[10].output
        scale = torch.ones((), requires_grad=True)
        model.model.layers[10].output = h * scale
        model.lm_head.output[0, -1].logsumexp(-1).backward()
    assert scale.grad is not None and float(scale.grad.abs()) > 0
