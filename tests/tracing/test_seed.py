"""The seed page's example, verbatim but for the import, on the real default model."""

from __future__ import annotations

import torch

from jupyter_invoker import LanguageModel


def test_seed_example_decodes_york_and_paris(model: LanguageModel, clean_after: dict) -> None:
    with model.generate(max_new_tokens=3) as generator:
        with generator.invoke("Madison square garden is located in the city of New") as invoker:
            lm_head_one = model.lm_head.output.save()

        with generator.invoke("The Eiffel Tower is in the city of") as invoker:
            lm_head_two = model.lm_head.output.save()

    assert isinstance(lm_head_one, torch.Tensor) and isinstance(lm_head_two, torch.Tensor)
    # Under generate, transformers computes lm_head for the last position only.
    assert lm_head_one.shape == (1, 1, len(model.tokenizer))
    decode = model.tokenizer.decode
    assert decode(lm_head_one[0, -1].argmax()) == " York"
    assert decode(lm_head_two[0, -1].argmax()) == " Paris"
    assert invoker.text.startswith(" Paris")
    assert type(lm_head_one.value) is torch.Tensor
    # generator.output: every invoke's ids, left-padded into one batch, in invoke order.
    assert generator.output is not None and generator.output.shape[0] == 2
    assert decode(generator.output[1], skip_special_tokens=True).endswith(invoker.text)
    assert list(generator.saved[0][0]) == ["lm_head.output"]
    assert generator.saved[1][0]["lm_head.output"] is lm_head_two


def test_trace_gives_every_position(model: LanguageModel) -> None:
    with model.trace("The Eiffel Tower is in the city of") as tracer:
        logits = model.lm_head.output.save()
    assert tracer.invoker is not None
    n_tokens = tracer.invoker.input_ids.shape[-1]
    assert logits.shape == (1, n_tokens, len(model.tokenizer))
    assert model.tokenizer.decode(logits[0, -1].argmax()) == " Paris"
    assert tracer.invoker.tokens[1:4] == ["ĠE", "iffel", "ĠTower"]


def test_print_model_shows_the_tree(model: LanguageModel) -> None:
    text = repr(model)
    assert "LlamaForCausalLM" in text and "(lm_head)" in text
    assert repr(model.model.layers[5].mlp).startswith("LlamaMLP(")
    assert model.lm_head.weight.shape == (len(model.tokenizer), 576)
    assert len(model.model.layers) == 30
    assert [h.path for h in model.model.layers][:2] == ["model.layers.0", "model.layers.1"]
    assert model.device.type == "cpu" and model.dtype == torch.float32
