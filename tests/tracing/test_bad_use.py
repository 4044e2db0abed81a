"""Bad inputs and misuse end in the package's own errors, saying what to do."""

from __future__ import annotations

import pytest
import torch

from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import (
    InvalidInputError,
    JupyterInvokerError,
    ModelLoadError,
    TracingError,
)
from jupyter_invoker.models import default_model_path


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty string"),
        ([], "expected a string"),
        (3.5, "expected a string"),
        ([{"content": "no role"}], "'role' and 'content'"),
        (torch.ones(3), "integer token ids"),
        (torch.ones(2, 2, 2, dtype=torch.long), "integer token ids"),
        ([10**9], "outside the model's vocabulary"),
        ([[1, 2], ["a"]], "expected a string"),
        (b"bytes", "expected a string"),
    ],
)
def test_invalid_inputs(model: LanguageModel, clean_after, value: object, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words) as info:
        with model.trace(value):
            pass
    assert isinstance(info.value, JupyterInvokerError)


def test_chat_needs_a_template(tiny_gpt2: LanguageModel) -> None:
    template = tiny_gpt2.tokenizer.chat_template
    tiny_gpt2.tokenizer.chat_template = None
    try:
        with pytest.raises(InvalidInputError, match="no chat template"):
            with tiny_gpt2.trace([{"role": "user", "content": "hi"}]):
                pass
    finally:
        tiny_gpt2.tokenizer.chat_template = template


def test_misuse_of_contexts(model: LanguageModel, clean_after) -> None:
    generator = model.generate(max_new_tokens=1)
    with pytest.raises(TracingError, match=r"inside `with model\.generate"):
        generator.invoke("hi")
    with model.generate(max_new_tokens=1) as generator:
        with generator.invoke("hi") as invoker:
            with pytest.raises(TracingError, match="cannot nest"):
                with generator.invoke("hi"):
                    pass
    with pytest.raises(TracingError, match="inside its"):
        invoker.next()
    with pytest.raises(TracingError, match=r"Cannot set 'outputs'"):
        model.lm_head.outputs = 1
    with model.generate(max_new_tokens=1) as generator:
        with pytest.raises(InvalidInputError, match="Cannot invoke on NoneType"):
            with generator.invoke(None):
                pass
    with pytest.raises(TracingError, match="out of range"):
        model.model.layers[99]
    with pytest.raises(TracingError, match="has no child module"):
        model.model["nope"]
    with model.trace("hi"):
        with pytest.raises(TracingError, match=r"\(args_tuple, kwargs_dict\)"):
            model.lm_head.inputs = 1


def test_assigning_after_the_model_moved_on(model: LanguageModel, clean_after) -> None:
    with model.trace("The Eiffel Tower is in the city of"):
        hidden = model.model.layers[2].output
        model.model.layers[4].output
        with pytest.raises(TracingError, match=r"already used it and moved on"):
            model.model.layers[2].output = hidden * 0


def test_dtype_and_device_pass_through() -> None:
    half = LanguageModel(default_model_path(), dtype="bfloat16", device="cpu")
    assert half.dtype == torch.bfloat16
    with half.trace("The Eiffel Tower is in the city of"):
        logits = half.lm_head.output.save()
    assert logits.dtype == torch.bfloat16
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        LanguageModel(default_model_path(), dtype="float7")
