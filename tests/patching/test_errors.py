"""Bad input to patch() and attribute(): clear errors that name the bad value and what to do."""

from __future__ import annotations

import pytest
import torch
from _shared import hooks_left

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import PatchingError

CLEAN = "The Eiffel Tower is in the city of"
CORRUPT = "The Colosseum is in the city of"


@pytest.mark.parametrize("run", [ji.patch, ji.attribute], ids=["patch", "attribute"])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"corrupt": "Rome is in"},
            r"same number of tokens.*clean prompt has 9 \['The', ' E'.*corrupt one 3 \['Rome'",
        ),
        ({"corrupt": ""}, r"The corrupt prompt cannot be used: An input prompt is an empty string"),
        ({"clean": ["a", "b"]}, r"The clean prompt is a batch of 2 prompts"),
        ({"sites": "resid,mlpp"}, r"unknown site 'mlpp': sites are resid, attn, mlp, heads"),
        ({"sites": []}, r"No site to patch: sites are resid"),
        (
            {"layers": [3, 30]},
            r"Layer 30 is out of range: there are 30 layers \(0 to 29, or -30 to -1",
        ),
        ({"positions": [-10]}, r"Position -10 is out of range: there are 9 positions"),
        ({"layers": []}, r"No layer to patch"),
        ({"layers": [1.5]}, r"A layer is a whole number; got 1\.5"),
        (
            {"metric": lambda logits: logits.sum()},
            r"one number per row: a tensor of shape \(\d+,\).*returned a tensor of shape \(\)",
        ),
        ({"metric": lambda logits: 3.0}, r"one number per row.*returned float 3\.0"),
        ({"metric": "logit_diff"}, r"metric is a callable"),
        ({"metric": lambda x: x[:, 0], "answer": " Paris"}, r"either metric= or answer=/wrong="),
        ({"answer": " Pari sian"}, r"answer=' Pari sian' is \d tokens"),
        (
            {"answer": " Paris", "wrong": " Paris"},
            r"answer and the wrong token are the same \(' Paris'\)",
        ),
        ({"answer": 10**9}, r"answer=1000000000 is not a token id"),
    ],
)
def test_bad_input(
    model: LanguageModel, run: object, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"clean": CLEAN, "corrupt": CORRUPT, "layers": [29], **kwargs}
    clean, corrupt = arguments.pop("clean"), arguments.pop("corrupt")
    with pytest.raises(PatchingError, match=message) as info:
        run(model, clean, corrupt, **arguments)  # type: ignore[operator]
    assert isinstance(info.value, ValueError)  # PatchingError is also a ValueError
    assert hooks_left(model) == []


def test_not_a_language_model_nor_an_open_trace(model: LanguageModel) -> None:
    with pytest.raises(PatchingError, match=r"not a LlamaForCausalLM: wrap a transformers model"):
        ji.patch(model.hf_model, CLEAN, CORRUPT)
    with model.trace(CLEAN):
        with pytest.raises(PatchingError, match="A trace or generate context is open"):
            ji.patch(model, CLEAN, CORRUPT)


def test_batch_size(model: LanguageModel) -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(PatchingError, match=r"batch_size is a number of rows, 1 or more"):
            ji.patch(model, CLEAN, CORRUPT, batch_size=bad)  # type: ignore[arg-type]


def test_same_token_prompts_and_token_ids_are_accepted(model: LanguageModel) -> None:
    ids = model.tokenizer(CORRUPT, return_tensors="pt").input_ids[0]
    by_text = ji.patch(model, CLEAN, CORRUPT, layers=[29], positions=[8])
    by_ids = ji.patch(model, CLEAN, ids.tolist(), layers=[29], positions=[8])
    by_tensor = ji.patch(model, CLEAN, torch.as_tensor(ids), layers=[29], positions=[8])
    assert torch.equal(by_text.effect, by_ids.effect) and torch.equal(
        by_ids.effect, by_tensor.effect
    )
