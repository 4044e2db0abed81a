"""The logit lens on the real default model: its last layer is the model's own output,
top-k and trajectories match a direct computation, generation steps line up."""

from __future__ import annotations

import pytest
import torch

from jupyter_invoker import LanguageModel
from jupyter_invoker.widgets._capture import collect
from jupyter_invoker.widgets._reduce_lens import find_lens, logit_lens

pytestmark = pytest.mark.slow  # the real default model (or its tokenizer)


def test_last_layer_is_the_models_own_output(model: LanguageModel, paris_trace) -> None:
    run = collect(paris_trace).runs[0]
    data = logit_lens(run, find_lens(model.hf_model), top_k=5, max_cells=10_000)
    assert data.layers == list(range(30)) and data.positions == list(range(run.n_prompt))
    logits = paris_trace.saved[0][0]["lm_head.output"][0].float()  # (pos, vocab)
    probs = logits.softmax(-1)
    top = probs.topk(5, dim=-1)
    assert torch.equal(torch.from_numpy(data.top_ids[-1]), top.indices)
    torch.testing.assert_close(torch.from_numpy(data.top_probs[-1]), top.values, atol=1e-5, rtol=0)
    assert model.tokenizer.decode(int(data.top_ids[-1, -1, 0])) == " Paris"


@torch.no_grad()
def test_topk_and_trajectories_match_a_direct_computation(
    model: LanguageModel, paris_trace
) -> None:
    run = collect(paris_trace).runs[0]
    paris = model.tokenizer(" Paris", add_special_tokens=False).input_ids[0]
    data = logit_lens(run, find_lens(model.hf_model), top_k=3, max_cells=10_000, track=[paris])
    saved = paris_trace.saved[0][0]
    final = data.top_ids[-1]  # (pos, k)
    for layer in (0, 7, 18, 29):
        hidden = saved[f"model.layers.{layer}.output"][0]
        probs = model.lm_head(model.model.norm(hidden)).softmax(-1)
        top = probs.topk(3, dim=-1)
        assert torch.equal(torch.from_numpy(data.top_ids[layer]), top.indices)
        torch.testing.assert_close(
            torch.from_numpy(data.top_probs[layer]), top.values, atol=1e-5, rtol=0
        )
        expected = probs.gather(1, torch.from_numpy(final))
        torch.testing.assert_close(
            torch.from_numpy(data.trajectories[:, :, layer]), expected, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            torch.from_numpy(data.tracked[layer, :, 0]), probs[:, paris], atol=1e-5, rtol=0
        )
    # " Paris" rises through the last layers at the last position
    assert data.tracked[-1, -1, 0] > 0.3 > data.tracked[5, -1, 0]


def test_generation_steps_line_up_with_the_generated_tokens(
    model: LanguageModel, paris_generate
) -> None:
    run = collect(paris_generate).runs[0]
    invoker = paris_generate.invokers[0]
    n = run.n_prompt
    assert run.step_list == [0, 1, 2, 3]
    assert run.ids == invoker.output_ids[0].tolist()
    data = logit_lens(run, find_lens(model.hf_model), top_k=1, max_cells=10_000)
    assert data.positions == list(range(n + 3))
    # greedy decoding: the last layer's top-1 at every position from the prompt's last
    # token on is the token generated next
    generated = invoker.output_ids[0, n:].tolist()
    assert data.top_ids[-1, n - 1 :, 0].tolist() == generated[:4]
    step1 = logit_lens(run, find_lens(model.hf_model), top_k=1, upto=1, max_cells=10_000)
    assert step1.positions == list(range(n + 1))
    assert (step1.top_ids == data.top_ids[:, : n + 1]).all()


def test_a_window_and_strides_bound_the_cells(model: LanguageModel, paris_generate) -> None:
    run = collect(paris_generate).runs[0]
    lens = find_lens(model.hf_model)
    data = logit_lens(run, lens, max_cells=300)
    assert len(data.layers) == 30 and len(data.positions) == 10
    assert data.positions[-1] == run.n_prompt + 2 and data.notes == [
        "positions 2–11 of 12 (window of 10)"
    ]
    small = logit_lens(run, lens, max_cells=120)
    assert small.layers[-1] == 29 and len(small.layers) == 15
    assert small.notes[0] == "one layer in 2 (15 of 30 layers)"
    assert len(small.layers) * len(small.positions) <= 120
    focused = logit_lens(run, lens, max_cells=300, focus=0)
    assert focused.positions[0] == 0 and len(focused.positions) == 10
