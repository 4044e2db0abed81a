"""The final norm and unembedding are found per architecture (tiny random models)."""

from __future__ import annotations

import pytest
import torch

from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import ViewError
from jupyter_invoker.widgets._capture import collect
from jupyter_invoker.widgets._reduce_lens import find_lens, logit_lens

from .conftest import PARIS, tiny

pytestmark = pytest.mark.slow  # the real default model (or its tokenizer)


@pytest.mark.parametrize(
    ("kind", "layers", "norm", "head"),
    [
        ("llama", "model.layers", "model.norm", "lm_head"),
        ("qwen2", "model.layers", "model.norm", "lm_head"),
        ("gpt2", "transformer.h", "transformer.ln_f", "lm_head"),
        ("gpt_neox", "gpt_neox.layers", "gpt_neox.final_layer_norm", "lm_head"),
    ],
)
def test_lens_found_and_exact_per_architecture(
    model: LanguageModel, kind, layers, norm, head
) -> None:
    lm = tiny(model, kind)
    lens = find_lens(lm.hf_model)
    assert (lens.layers, lens.norm_path, lens.head_path) == (layers, norm, head)
    with lm.trace(PARIS) as tracer:
        tracer.invoker.save_all()
    run = collect(tracer).runs[0]
    data = logit_lens(run, lens, top_k=5, max_cells=1000)
    assert data.layers == [0, 1]
    logits = tracer.saved[0][0][f"{head}.output"][0].float()
    top = logits.softmax(-1).topk(5, dim=-1)
    assert torch.equal(torch.from_numpy(data.top_ids[-1]), top.indices)
    torch.testing.assert_close(torch.from_numpy(data.top_probs[-1]), top.values, atol=1e-5, rtol=0)


def test_unknown_architecture_names_what_is_missing(model: LanguageModel) -> None:
    lm = tiny(model, "opt")
    with pytest.raises(ViewError, match=r"model_type 'opt'.*no .*norm.*view='residual"):
        find_lens(lm.hf_model)
