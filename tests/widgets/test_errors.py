"""Bad input: each a clear ViewError that says what to run instead."""

from __future__ import annotations

import pytest
import torch

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import JupyterInvokerError, ViewError
from jupyter_invoker.invokers._result import ExecutionResult

from .conftest import PARIS, tiny

pytestmark = pytest.mark.slow  # the real default model (or its tokenizer)


def test_nothing_saved(model: LanguageModel) -> None:
    lm = tiny(model, "llama")
    with lm.generate(max_new_tokens=2) as generator:
        pass
    with pytest.raises(ViewError, match=r"(?s)ran no invoke.*invoker.save_all"):
        ji.show(generator)
    with lm.generate(max_new_tokens=2) as generator:
        with generator.invoke(PARIS):
            pass
    with pytest.raises(ViewError, match=r"(?s)saved no module output.*invoker.save_all"):
        generator.show()
    assert issubclass(ViewError, JupyterInvokerError)


def test_module_not_saved(model: LanguageModel) -> None:
    lm = tiny(model, "llama")
    with lm.trace(PARIS) as tracer:
        lm.model.layers[0].output.save()
    browser = ji.show(tracer, view="module", module="model.layers.0")
    assert browser.figure.layout.title.text.startswith("model.layers.0 output")
    local = ExecutionResult(text="", invoker="local", generator=tracer)
    for shortcut in (local.show, tracer.show):
        assert shortcut(view="module").figure.layout.title.text == browser.figure.layout.title.text
    with pytest.raises(
        ViewError,
        match=r"'model.layers.1.mlp' was not saved in .*model\.model\.layers\[1\]\.mlp"
        r"\.output\.save\(\).*save_all",
    ):
        ji.show(tracer, view="module", module="model.layers.1.mlp")
    with pytest.raises(ViewError, match=r"No saved module matches 'model.layers.\*.mlp'"):
        ji.show(tracer, view="family", module="model.layers.*.mlp")


def test_attention_without_weights(model: LanguageModel) -> None:
    lm = tiny(model, "llama")
    with lm.trace(PARIS) as tracer:
        tracer.invoker.save_all()
    with pytest.raises(
        ViewError,
        match=r"kept no attention weights.*eager attention.*attn_implementation='eager'",
    ):
        ji.show(tracer, view="attention")


def test_attention_with_weights(model: LanguageModel) -> None:
    lm = tiny(model, "llama", attn_implementation="eager")
    with lm.generate(max_new_tokens=2, output_attentions=True) as generator:
        with generator.invoke(PARIS) as invoker:
            invoker.save_all()
            invoker.next()
            invoker.save_all()
    from jupyter_invoker.widgets._capture import collect
    from jupyter_invoker.widgets._reduce_attention import attention

    run = collect(generator).runs[0]
    data = attention(run, layer=1)
    n = run.n_prompt
    assert data.weights.shape == (2, n + 1, n + 1) and data.positions == list(range(n + 1))
    rows = data.weights[:, :, :]
    assert torch.allclose(
        torch.from_numpy(rows).nan_to_num().sum(-1), torch.ones(2, n + 1), atol=1e-5
    )
    assert torch.isnan(torch.from_numpy(rows[:, 0, 1:])).all()  # causal: no future keys
    saved = generator.saved[0][1]["model.layers.1.self_attn.output"][1][0, :, -1]
    assert torch.allclose(torch.from_numpy(rows[:, -1]), saved, atol=1e-6)


def test_unknown_architecture_and_plain_dicts(model: LanguageModel) -> None:
    lm = tiny(model, "opt")
    with lm.trace(PARIS) as tracer:
        tracer.invoker.save_all()
    with pytest.raises(ViewError, match="model_type 'opt'"):
        ji.show(tracer, view="logit_lens")
    browser = ji.show(tracer)  # the default falls back to a view this model allows
    assert browser.spec.view == "residual_norm"
    saved = {"model.layers.0": torch.randn(1, 5, 8), "model.layers.1": torch.randn(1, 5, 8)}
    with pytest.raises(ViewError, match=r"plain dict of tensors has no model.*show\(generator\)"):
        ji.show(saved, view="logit_lens")
    assert ji.show(saved).spec.view == "residual_norm"


def test_remote_results_and_other_objects() -> None:
    with pytest.raises(ViewError, match=r"'openai' invoker.*invoker='local'"):
        ji.show(ExecutionResult(text="hi", invoker="openai"))
    with pytest.raises(ViewError, match="Cannot show a int"):
        ji.show(3)
    with pytest.raises(ViewError, match="Unknown view 'heat'"):
        ji.show({"a.0": torch.randn(1, 3, 4)}, view="heat")
