"""patch(): the sweep equals patching one site at a time by hand, batched or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.patching import _sweep
from jupyter_invoker.patching._plan import Costs

CLEAN = "The Eiffel Tower is in the city of"
CORRUPT = "The Colosseum is in the city of"
Reference = Any  # tests/patching/conftest.py's Reference

LAYERS = [0, 7, 29]  # the first (nothing to stub), a middle one, the last (all stubbed)
POSITIONS = [0, 3, 8]  # the first (no cache to reuse), a middle one, the last


def test_the_sweep_equals_patching_by_hand_for_every_site(
    model: LanguageModel, by_hand: Callable[..., torch.Tensor], reference: Reference, leaves_nothing
) -> None:
    result = ji.patch(
        model, CLEAN, CORRUPT, sites="resid,attn,mlp,heads", layers=LAYERS, positions=POSITIONS
    )
    assert result.effect.shape == (3, 3, 3) and result.sites == ("resid", "attn", "mlp")
    assert result.head_effect is not None and result.head_effect.shape == (3, 9)
    for s, site in enumerate(result.sites):
        for i, layer in enumerate(LAYERS):
            for j, position in enumerate(POSITIONS):
                expected = reference.normalized(by_hand(site, layer, position))
                assert abs(float(result.effect[s, i, j]) - expected) < 1e-4, (site, layer, position)
    for i, layer in enumerate([0, 29]):
        for head in (0, 4, 8):
            expected = reference.normalized(by_hand("heads", layer, head))
            got = float(result.head_effect[LAYERS.index(layer), head])
            assert abs(got - expected) < 1e-4, ("heads", layer, head, i)
    # the factual-recall picture: the last position late in the network carries the answer
    assert float(result["resid"][-1, -1]) == pytest.approx(1.0, abs=1e-4)
    assert result.clean_value == pytest.approx(1.0) and result.corrupt_value == pytest.approx(0.0)


def _forwards(model: LanguageModel, run: Callable[[], object]) -> int:
    calls: list[None] = []
    handle = model.hf_model.register_forward_hook(lambda *_: calls.append(None))
    try:
        run()
    finally:
        handle.remove()
    return len(calls)


def test_batched_and_unbatched_sweeps_agree(
    model: LanguageModel, leaves_nothing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan is cut from costs measured on the machine; fixed ones (this model on a
    # 2-core CPU) make the number of forwards the same on a loaded machine.
    costs = Costs(call=7e-4, token=2.2e-5, forward=3.5e-3, head=3e-4)
    monkeypatch.setitem(_sweep._COSTS, model.hf_model, costs)
    options = {"sites": ("resid", "mlp", "heads"), "layers": [2, 15, 28], "positions": [1, 5, 8]}
    results = {}
    forwards = {
        size: _forwards(
            model, lambda size=size: results.__setitem__(size, ji.patch(model, CLEAN, CORRUPT, batch_size=size, **options))
        )
        for size in (1, 5, None)
    }  # fmt: skip
    rows = 2 * 3 * 3 + 3 * 9
    for size in (5, None):
        assert torch.allclose(results[size].effect, results[1].effect, atol=1e-5)
        assert torch.allclose(results[size].head_effect, results[1].head_effect, atol=1e-5)
    # one forward per patch only when asked for; batched: a few forwards for all 45 rows
    assert forwards[1] >= rows
    assert forwards[5] < forwards[1] - 30
    assert forwards[None] < 12


def test_a_metric_callable(
    model: LanguageModel, by_hand: Callable[..., torch.Tensor], reference: Reference
) -> None:
    paris = reference.answer

    def paris_logprob(logits: torch.Tensor) -> torch.Tensor:
        return logits.log_softmax(-1)[:, paris]

    result = ji.patch(
        model, CLEAN, CORRUPT, sites=("resid", "attn"), layers=[5, 27], positions=[3, 8],
        metric=paris_logprob,
    )  # fmt: skip
    base = float(paris_logprob(reference.corrupt[None])[0])
    for s, site in enumerate(("resid", "attn")):
        for i, layer in enumerate((5, 27)):
            for j, position in enumerate((3, 8)):
                expected = float(paris_logprob(by_hand(site, layer, position)[None])[0]) - base
                assert abs(float(result.effect[s, i, j]) - expected) < 1e-4
    assert result.metric == "metric paris_logprob"
    assert result.corrupt_value == pytest.approx(base, abs=1e-4)


def test_answer_and_wrong_choose_the_tokens(model: LanguageModel, reference: Reference) -> None:
    chosen = ji.patch(model, CLEAN, CORRUPT, layers=[29], answer=" Paris", wrong=" Rome")
    default = ji.patch(model, CLEAN, CORRUPT, layers=[29])
    assert torch.allclose(chosen.effect, default.effect)
    assert "' Paris' − ' Rome'" in chosen.metric
    swapped = ji.patch(
        model, CLEAN, CORRUPT, layers=[29], positions=[8], answer=" Rome", wrong=" Paris"
    )
    assert float(swapped.effect[0, 0, 0]) == pytest.approx(1.0, abs=1e-4)  # clean -> "Rome" end


def test_a_gpt2_architecture_and_its_shortcuts(tiny_gpt2: LanguageModel) -> None:
    from jupyter_invoker.patching._inputs import prepare_pair
    from jupyter_invoker.patching._runs import Row
    from jupyter_invoker.patching._sites import find_layout
    from jupyter_invoker.patching._sweep import Sweep

    layout = find_layout(tiny_gpt2)
    assert (layout.layers, layout.attn, layout.out_proj) == ("transformer.h", "attn", "c_proj")
    pair = prepare_pair(tiny_gpt2, CLEAN, CORRUPT)
    sweep = Sweep(tiny_gpt2, layout, pair, [Row("resid", 0, 4)])
    assert (sweep.reuse_cache, sweep.stub_layers) == (True, True)
    result = ji.patch(
        tiny_gpt2, CLEAN, CORRUPT, sites="resid,attn,mlp,heads", metric=lambda x: x[:, 7]
    )
    with tiny_gpt2.trace(CLEAN):
        source = tiny_gpt2.transformer.h[0].output.save()
    with tiny_gpt2.trace(CORRUPT):
        tiny_gpt2.transformer.h[0].output[:, 4] = source[:, 4]
        patched = tiny_gpt2.lm_head.output[0, -1, 7].save()
    with tiny_gpt2.trace(CORRUPT):
        base = tiny_gpt2.lm_head.output[0, -1, 7].save()
    assert float(result["resid"][0, 4]) == pytest.approx(float(patched - base), abs=1e-4)
