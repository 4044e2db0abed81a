"""Bad inputs and misuse end in the package's own errors, saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import (
    InvalidInputError,
    JupyterInvokerError,
    ModelLoadError,
    ModuleAttributeError,
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


def test_a_misspelt_module_names_the_close_matches(model: LanguageModel) -> None:
    with pytest.raises(ModuleAttributeError, match=r"'lm_haed'\. Did you mean 'lm_head'\?"):
        model.lm_haed
    with pytest.raises(AttributeError, match=r"'layrs'\. Did you mean 'layers'\?") as info:
        model.model.layrs
    assert isinstance(info.value, ModuleAttributeError)
    assert "Its children are: embed_tokens, layers, norm" in str(info.value)
    with pytest.raises(ModuleAttributeError, match=r"Did you mean 'self_attn'\?"):
        model.model.layers[0].self_atn
    with pytest.raises(ModuleAttributeError, match=r"Did you mean 'layers\.0\.mlp'"):
        model.model.mlp
    with pytest.raises(ModuleAttributeError, match=r"Did you mean 'generate'"):
        model.genrate
    assert not hasattr(model, "zzzz") and hasattr(model, "lm_head")


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


@pytest.mark.parametrize("name", ["./not_a_dir_typo", "~/no_such_model_dir", "a/b/c", "w.gguf"])
def test_a_missing_folder_is_no_such_folder_not_a_hub_id(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelLoadError, match="No such folder") as info:
        LanguageModel(name)
    assert str(Path(name).expanduser().resolve()) in str(info.value)
    assert "alphanumeric" not in str(info.value)


def test_a_hub_id_with_no_hub_says_how_to_use_a_local_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    # A closed loopback port: the probe is refused at once, whatever this machine's network.
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelLoadError, match="hub is not reachable") as info:
        LanguageModel("no/such-model")
    message = str(info.value)
    assert "http://127.0.0.1:9" in message
    assert "local folder" in message and "LanguageModel() with no argument" in message
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set"):
        LanguageModel("no/such-model")


def test_a_load_from_disk_draws_no_progress_bar(capfd: pytest.CaptureFixture[str]) -> None:
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    LanguageModel(default_model_path())
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # switched off for the load only


def test_an_index_out_of_range_is_also_an_index_error(model: LanguageModel) -> None:
    with pytest.raises(IndexError, match=r"30 children \(indices 0 to 29.*index 999") as info:
        model.model.layers[999]
    assert isinstance(info.value, TracingError)
    with pytest.raises(IndexError):
        model.model.layers[-31]
    assert model.model.layers[-1].path == "model.layers.29"
    assert [layer.path for layer in model.model.layers][-1] == "model.layers.29"  # iteration ends
