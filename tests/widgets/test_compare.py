"""Two prompts' logit lenses side by side in one figure (patched vs. unpatched)."""

from __future__ import annotations

import pytest

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import ViewError

from .conftest import tiny

pytestmark = pytest.mark.slow  # the default model's tokenizer


def test_side_by_side_matches_each_lens(model: LanguageModel) -> None:
    lm = tiny(model, "llama")
    with lm.generate(max_new_tokens=1) as generator:
        with generator.invoke("The Eiffel Tower is in the city of"):
            paris = lm.model.layers[1].output[:, -1].save()
        with generator.invoke("The Colosseum is in the city of") as patched:
            patched.save_all()
            lm.model.layers[1].output[:, -1] = paris
        with generator.invoke("The Colosseum is in the city of") as unpatched:
            unpatched.save_all()
    both = ji.show(generator, invoke=1, compare=2).figure
    heatmaps = [t for t in both.data if t.type == "heatmap"]
    assert len(heatmaps) == 2 and [t.showscale for t in heatmaps] == [True, False]
    titles = [a.text for a in both.layout.annotations]
    assert any("invoke 1" in t for t in titles) and any("invoke 2" in t for t in titles)
    for trace, invoke in zip(heatmaps, (1, 2), strict=True):
        alone = ji.show(generator, invoke=invoke).figure.data[0]
        assert trace.text == alone.text and (trace.z == alone.z).all()
    assert heatmaps[0].text[-1][-1] != heatmaps[1].text[-1][-1]  # the patch shows at the end
    with pytest.raises(ViewError, match=r"invoke=0 has no saved module output.*\[1, 2\]"):
        ji.show(generator, invoke=1, compare=0)
