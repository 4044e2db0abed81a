"""PatchResult: axes, records, the data frame, and the heatmap's figure (hover, size bound)."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import PatchingError
from jupyter_invoker.patching import PatchResult
from jupyter_invoker.widgets._figures import LIVE_MIME, MIME, bundle, bundle_bytes

CLEAN = "The Eiffel Tower is in the city of"
CORRUPT = "The Colosseum is in the city of"


@pytest.fixture(scope="module")
def swept(model: LanguageModel) -> PatchResult:
    return ji.patch(model, CLEAN, CORRUPT, sites=("mlp", "resid", "heads"), layers=[0, 29],
                    positions=[1, 8])  # fmt: skip


def test_axes_and_cells(swept: PatchResult) -> None:
    assert swept.sites == ("mlp", "resid") and swept.layers == [0, 29]
    assert swept.positions == [1, 8] and swept.labels() == ["1:  E", "8:  of"]
    assert torch.equal(swept["resid"], swept.effect[1]) and swept["heads"].shape == (2, 9)
    with pytest.raises(PatchingError, match=r"no site 'attn': it holds mlp, resid, heads"):
        swept["attn"]
    records = swept.records()
    assert len(records) == 2 * 2 * 2 + 2 * 9
    last = next(r for r in records if (r["site"], r["layer"], r["position"]) == ("resid", 29, 8))
    assert last["token"] == " of" and last["effect"] == pytest.approx(1.0, abs=1e-4)
    assert "effect (2, 2, 2) (site, layer, position)" in repr(swept)


def test_to_dataframe_with_or_without_pandas(swept: PatchResult) -> None:
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match=r"pip install pandas.*result\.records\(\)"):
            swept.to_dataframe()
    else:
        frame = swept.to_dataframe()
        assert list(frame.columns) == ["site", "layer", "position", "head", "token", "effect"]
        assert len(frame) == len(swept.records())


def test_subtracting_results_over_other_axes_says_so(
    model: LanguageModel, swept: PatchResult
) -> None:
    other = ji.patch(model, CLEAN, CORRUPT, sites="resid", layers=[0, 29], positions=[1, 8])
    with pytest.raises(
        PatchingError, match=r"same sites, layers and positions.*\['mlp', 'resid'\]"
    ):
        swept - other


def test_the_figure_hovers_value_layer_and_token(swept: PatchResult) -> None:
    fig = swept.figure()
    assert [trace.type for trace in fig.data] == ["heatmap"] * 3
    resid = fig.data[1]
    assert list(resid.x) == ["1: ␣E", "8: ␣of"] and list(resid.y) == ["layer 0", "layer 29"]
    assert "%{y}" in resid.hovertemplate and "token %{x}" in resid.hovertemplate
    assert "effect %{z:.4f}" in resid.hovertemplate
    assert "head %{x}" in fig.data[2].hovertemplate and fig.data[2].x[0] == "head 0"
    shown = bundle(fig)
    # plotly's own output (any front end), marked for this package's renderer
    assert set(shown) == {LIVE_MIME, MIME, "text/plain"}
    assert shown["text/plain"] == f"<plotly figure: {swept.metric}>"  # the title's first line
    assert shown[MIME]["data"][1]["z"]["dtype"] == "f4"  # binary-encoded float32
    json.dumps(shown)  # plain JSON


def test_the_figure_stays_under_1_mb_for_any_model() -> None:
    layers, positions, heads = 80, 8192, 64
    big = PatchResult(
        effect=torch.randn(3, layers, positions), head_effect=torch.randn(layers, heads),
        sites=("resid", "attn", "mlp"), layers=list(range(layers)),
        positions=list(range(positions)), tokens=[f"t{i}" for i in range(positions)],
        corrupt_tokens=[f"c{i}" for i in range(positions)], method="patch",
        metric="a metric", clean_value=1.0, corrupt_value=0.0,
    )  # fmt: skip
    big.effect[0, 5, 4000] = 40.0  # a peak survives the pooling
    fig = big.figure(big)
    assert bundle_bytes(fig) < 1_000_000
    assert "positions pooled" in fig.layout.title.text
    first = fig.data[0]
    assert float(max(max(row) for row in first.z)) == pytest.approx(40.0)
    assert len(first.x) < positions
