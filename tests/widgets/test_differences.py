"""Difference views: patched − clean on the real default model (notebook 03's patch),
run A − run B and token t − t−1 on every view that has one, one diverging scale,
both sides in the hover; and clear errors where no difference exists."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import ViewError
from jupyter_invoker.widgets._capture import collect
from jupyter_invoker.widgets._reduce_lens import find_lens, logit_lens

from .conftest import PARIS, tiny

pytestmark = pytest.mark.slow  # the real default model

COLOSSEUM = "The Colosseum is in the city of"


@pytest.fixture(scope="module")
def patching(model: LanguageModel) -> Any:
    """Layer 27's last position from the Eiffel Tower prompt patched into the Colosseum
    prompt (invoke 1), and the Colosseum prompt left alone (invoke 2)."""
    with model.generate(max_new_tokens=1) as generator:
        with generator.invoke(PARIS):
            paris = model.model.layers[27].output[:, -1].save()
        with generator.invoke(COLOSSEUM) as patched:
            patched.save_all()
            model.model.layers[27].output[:, -1] = paris
        with generator.invoke(COLOSSEUM) as clean:
            clean.save_all()
    return generator


def test_patched_minus_clean_on_the_logit_lens(model: LanguageModel, patching: Any) -> None:
    fig = ji.show(patching, invoke=1, diff=2).figure
    heat = fig.data[0]
    assert fig.layout.title.text.startswith("Logit lens difference invoke 1 − invoke 2")
    assert heat.colorscale[0][1] == "rgb(103,0,31)" and heat.zmin == -heat.zmax  # RdBu, centred
    capture = collect(patching)
    lens = find_lens(model.hf_model)
    a = logit_lens(capture.run(0), lens)
    b = logit_lens(capture.run(1), lens, gather=a.top_ids)
    expected = a.top_probs[:, :, 0] - b.gathered[:, :, 0]
    np.testing.assert_allclose(np.asarray(heat.z), expected, atol=1e-6)
    # from layer 27 on, the patched run makes " Paris" far likelier at the last token
    last = np.asarray(heat.z)[:, -1]
    assert heat.text[-1][-1] == "␣Paris" and last[-1] > 0.3 and abs(last[0]) < 0.05
    assert "␣Paris" in heat.hovertext[-1][-1] and " − " in heat.hovertext[-1][-1]
    assert "difference: p under invoke 1 − p under invoke 2" in fig.layout.annotations[0].text


def test_run_a_minus_run_b_on_the_grid_views(patching: Any) -> None:
    for view in ("residual_norm", "family", "module"):
        a = ji.show(patching, invoke=1, view=view).figure.data[0]
        b = ji.show(patching, invoke=2, view=view).figure.data[0]
        fig = ji.show(patching, invoke=1, view=view, diff=2).figure
        heat = fig.data[0]
        np.testing.assert_allclose(np.asarray(heat.z), np.asarray(a.z) - np.asarray(b.z), atol=1e-4)
        sides = np.asarray(heat.customdata)
        np.testing.assert_allclose(sides[..., 0], a.z, atol=1e-5)
        np.testing.assert_allclose(sides[..., 1], b.z, atol=1e-5)
        assert "invoke 1 %{customdata[0]" in heat.hovertemplate
        assert "invoke 2 %{customdata[1]" in heat.hovertemplate
        assert heat.zmin == -heat.zmax and "difference invoke 1 − invoke 2" in fig.layout.title.text
        assert heat.colorbar.title.text.startswith("Δ ")


def test_token_t_minus_token_t_minus_1(paris_generate: Any) -> None:
    plain = np.asarray(ji.show(paris_generate, view="residual_norm").figure.data[0].z)
    fig = ji.show(paris_generate, view="residual_norm", diff="step").figure
    z = np.asarray(fig.data[0].z)
    assert np.isnan(z[:, 0]).all()
    np.testing.assert_allclose(z[:, 1:], plain[:, 1:] - plain[:, :-1], atol=1e-3)
    assert "step t − t−1" in fig.layout.title.text and fig.layout.sliders  # still steps
    module = ji.show(paris_generate, view="module", diff="step").figure.data[0]
    rows = np.asarray(ji.show(paris_generate, view="module").figure.data[0].z)
    np.testing.assert_allclose(np.asarray(module.z)[1:], rows[1:] - rows[:-1], atol=1e-4)


def test_attention_difference_and_refusals(model: LanguageModel) -> None:
    lm = tiny(model, "llama", attn_implementation="eager")
    with lm.trace() as tracer:
        with tracer.invoke(PARIS) as one:
            one.save_all()
        with tracer.invoke("The Space Needle is in the city of") as two:
            two.save_all()
        with tracer.invoke("Hello") as short:
            short.save_all()
    a = ji.show(tracer, view="attention", layer=1).figure.data
    b = ji.show(tracer, view="attention", layer=1, invoke=1).figure.data
    diff = ji.show(tracer, view="attention", layer=1, diff=1).figure
    assert diff.layout.title.text.startswith("Attention · model.layers.1.self_attn · layer 1")
    assert "difference invoke 0 − invoke 1" in diff.layout.title.text
    for heat, x, y in zip(diff.data, a, b, strict=True):
        np.testing.assert_allclose(np.asarray(heat.z), np.asarray(x.z) - np.asarray(y.z), atol=1e-6)
        assert heat.hovertemplate.count("Δ weight") == 1
    with pytest.raises(ViewError, match=r"same positions: invoke 0: .* has 9 tokens.*compare="):
        ji.show(tracer, view="residual_norm", diff=2)
    with pytest.raises(ViewError, match=r"diff= names the run shown"):
        ji.show(tracer, view="residual_norm", diff=0)
    with pytest.raises(ViewError, match=r"compare= puts runs side by side and diff= subtracts"):
        ji.show(tracer, compare=1, diff=1)
    with pytest.raises(ViewError, match=r"diff='step' applies to the residual norm"):
        ji.show(tracer, view="logit_lens", diff="step")
    with pytest.raises(ViewError, match=r"diff='next' is not a difference .* 'step'"):
        ji.show(tracer, view="residual_norm", diff="next")
