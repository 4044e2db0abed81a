"""Tracing on CUDA: device placement, dtypes, device_map. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from jupyter_invoker import LanguageModel
from jupyter_invoker.models import default_model_path

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PARIS = "The Eiffel Tower is in the city of"
ROME = "The Colosseum is in the city of"


@pytest.fixture(scope="module", params=["float32", "bfloat16", "float16"])
def cuda_model(request: pytest.FixtureRequest) -> LanguageModel:
    return LanguageModel(default_model_path(), device="cuda", dtype=request.param)


def test_seed_example_on_cuda(cuda_model: LanguageModel) -> None:
    with cuda_model.generate(max_new_tokens=3) as generator:
        with generator.invoke("Madison square garden is located in the city of New"):
            one = cuda_model.lm_head.output.save()
        with generator.invoke(PARIS) as invoker:
            hidden = cuda_model.model.layers[10].output
            assert hidden.device.type == "cuda" and hidden.dtype == cuda_model.dtype
            two = cuda_model.lm_head.output.save()
    assert one.device.type == "cuda" and one.dtype == cuda_model.dtype
    decode = cuda_model.tokenizer.decode
    assert decode(one[0, -1].argmax()) == " York"
    assert decode(two[0, -1].argmax()) == " Paris"
    assert invoker.output_ids.device.type == "cuda"
    assert generator.output is not None and generator.output.device.type == "cuda"


def test_patching_and_batches_on_cuda(cuda_model: LanguageModel) -> None:
    with cuda_model.generate(max_new_tokens=1) as generator:
        with generator.invoke(PARIS):
            paris = cuda_model.model.layers[27].output[:, -1].save()
        with generator.invoke(ROME) as patched:
            cuda_model.model.layers[27].output[:, -1] = paris
        with generator.invoke([ROME, "Hi", PARIS]) as batch:
            pass
    assert patched.text == " Paris"
    assert batch.text[0] == " Rome" and batch.text[2] == " Paris"


def test_save_all_and_cleanup_on_cuda(cuda_model: LanguageModel) -> None:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    with cuda_model.trace(PARIS) as tracer:
        everything = tracer.invoker.save_all()
        model_err = None
        try:
            cuda_model.model.layers[3].output = torch.zeros(2, 2)  # wrong device and shape
            cuda_model.lm_head.output
        except RuntimeError as exc:
            model_err = exc
    assert model_err is not None
    del everything, tracer
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() <= before + 1024 * 1024  # nothing kept alive
    assert not [
        name
        for name, module in cuda_model.hf_model.named_modules()
        if module._forward_hooks or module._forward_pre_hooks
    ]


def test_device_map_auto() -> None:
    model = LanguageModel(default_model_path(), device_map="auto", dtype="bfloat16")
    assert model.device.type == "cuda"
    with model.trace([PARIS, ROME]):
        logits = model.lm_head.output.save()
    assert [model.tokenizer.decode(t) for t in logits[:, -1].argmax(-1)] == [" Paris", " Rome"]
