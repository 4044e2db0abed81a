"""A list input is one left-padded batch whose rows equal their solo runs."""

from __future__ import annotations

import pytest
import torch

from jupyter_invoker import LanguageModel

PROMPTS = [
    "The Eiffel Tower is in the city of",
    "Hi",
    "Madison square garden is located in the city of New",
]


def solo_last_logits(lm: LanguageModel, prompt: str) -> torch.Tensor:
    with lm.trace(prompt):
        logits = lm.lm_head.output.save()
    return logits[0, -1]


@pytest.mark.parametrize("fixture", ["model", "tiny_gpt2", "tiny_llama"])
def test_batched_trace_equals_solo_runs(fixture: str, request: pytest.FixtureRequest) -> None:
    lm: LanguageModel = request.getfixturevalue(fixture)
    with lm.trace(PROMPTS) as tracer:
        hidden = lm.model.layers[0].output.save() if fixture != "tiny_gpt2" else None
        batched = lm.lm_head.output.save()
    assert tracer.invoker is not None
    mask = tracer.invoker.attention_mask
    assert mask[1, 0] == 0 and mask[1, -1] == 1  # left padding: [:, -1] is every row's last token
    for row, prompt in enumerate(PROMPTS):
        assert torch.allclose(batched[row, -1], solo_last_logits(lm, prompt), atol=1e-4), prompt
    assert hidden is None or hidden.shape[0] == 3
    assert tracer.invoker.tokens[1] == lm.tokenizer.convert_ids_to_tokens(
        lm.tokenizer("Hi").input_ids
    )


@pytest.mark.parametrize("fixture", ["model", "tiny_gpt2"])
def test_batched_generate_equals_solo_runs(fixture: str, request: pytest.FixtureRequest) -> None:
    lm: LanguageModel = request.getfixturevalue(fixture)
    with lm.generate(max_new_tokens=4, do_sample=False) as generator:
        with generator.invoke(PROMPTS) as batch:
            first_step = lm.lm_head.output.save()
    solo_texts = []
    for row, prompt in enumerate(PROMPTS):
        with lm.generate(max_new_tokens=4, do_sample=False) as generator:
            with generator.invoke(prompt) as solo:
                logits = lm.lm_head.output.save()
        assert torch.allclose(first_step[row, -1], logits[0, -1], atol=1e-4), prompt
        solo_texts.append(solo.text)
    assert batch.text == solo_texts
    assert isinstance(batch.text, list) and len(batch.tokens) == 3


def test_gpt2_without_position_ids_would_differ(tiny_gpt2: LanguageModel) -> None:
    """The padded batch really needs position_ids on an absolute-position model."""
    enc = tiny_gpt2.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        naive = tiny_gpt2.hf_model(**enc).logits[1, -1]
    assert not torch.allclose(naive, solo_last_logits(tiny_gpt2, PROMPTS[1]), atol=1e-4)


def test_token_ids_and_chat_inputs(model: LanguageModel) -> None:
    ids = model.tokenizer("The Eiffel Tower is in the city of").input_ids
    expected = solo_last_logits(model, "The Eiffel Tower is in the city of")
    assert torch.allclose(solo_last_logits(model, ids), expected, atol=1e-4)
    assert torch.allclose(solo_last_logits(model, torch.tensor(ids)), expected, atol=1e-4)
    with model.trace([ids, ids[:3]]) as tracer:
        both = model.lm_head.output.save()
    assert torch.allclose(both[0, -1], expected, atol=1e-4)
    assert tracer.invoker.attention_mask[1].tolist()[: len(ids) - 3] == [0] * (len(ids) - 3)

    chat = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    with model.generate(max_new_tokens=8) as generator:
        with generator.invoke(chat) as invoker:
            pass
    assert "<|im_start|>assistant" in "".join(invoker.tokens).replace("Ġ", " ").replace("Ċ", "\n")
    assert invoker.text == "The capital of France is Paris."
    with model.generate(max_new_tokens=2) as generator:
        with generator.invoke([chat, chat]) as pair:
            pass
    assert pair.text[0] == pair.text[1]
