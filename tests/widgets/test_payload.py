"""Every view of a 70B-class run stays under 1 MB as sent: synthetic saved tensors shaped
like an 80-layer, 8192-wide model over 512 tokens, and a 128k vocabulary reached
through a random low-rank stand-in for the unembedding."""

from __future__ import annotations

import json

import pytest
import torch
from _synthetic import decode, stand_in_lens, synthetic_run
from jupyter_client.session import json_packer

from jupyter_invoker.widgets._capture import PromptRecord
from jupyter_invoker.widgets._figures import (
    attention_figure,
    bundle,
    bundle_bytes,
    grid_figure,
    step_views,
)
from jupyter_invoker.widgets._figures_lens import lens_figure
from jupyter_invoker.widgets._reduce import family_summary, module_output, residual_norm
from jupyter_invoker.widgets._reduce_attention import attention
from jupyter_invoker.widgets._reduce_lens import logit_lens

LAYERS, WIDTH, TOKENS, VOCAB, HEADS = 80, 8192, 512, 128_000, 64
LIMIT = 1_000_000


def measured(fig) -> int:
    """Bytes of the display bundle as the kernel sends it (jupyter_client's packer)."""
    sent = json_packer(bundle(fig))
    assert json.loads(sent)["application/vnd.plotly.v1+json"]["data"]
    assert bundle_bytes(fig) == len(sent)
    return len(sent)


@pytest.fixture(scope="module", params=[1, 9], ids=["trace", "generate-8"])
def run(request) -> PromptRecord:
    return synthetic_run(LAYERS, WIDTH, TOKENS, HEADS, steps=request.param)


def test_logit_lens_view(run: PromptRecord) -> None:
    data = logit_lens(run, stand_in_lens(WIDTH, VOCAB), top_k=5)
    fig = lens_figure(
        data, run, decode, stand_in_lens(WIDTH, VOCAB), step_views(run, data.positions, "lens")
    )
    assert data.top_ids.shape == (40, 12, 5) and data.layers[-1] == 79
    assert measured(fig) <= LIMIT
    notes = fig.layout.annotations[0].text
    assert (
        notes.startswith("reduced:")
        and "one layer in 2 (40 of 80 layers)" in notes
        and "window of 12" in notes
    )
    assert (
        fig.data[0].z.dtype.name == "float32"
        and fig.to_plotly_json()["data"][0]["z"]["dtype"] == "f4"
    )


def test_grid_views(run: PromptRecord) -> None:
    for grid in (residual_norm(run), family_summary(run, "model.layers.*.mlp"),
                 module_output(run, "model.layers.40.mlp")):  # fmt: skip
        fig = grid_figure(grid, step_views(run, grid.positions, grid.title))
        assert measured(fig) <= LIMIT, grid.title
        assert fig.to_plotly_json()["data"][0]["z"]["dtype"] == "f4"
    pooled = module_output(run, "model.layers.40.mlp")
    assert pooled.z.shape == (512, 128)
    assert (
        "8192 units → 128 columns: mean of 64 consecutive units"
        in grid_figure(pooled, []).layout.annotations[0].text
    )


def test_attention_view(run: PromptRecord) -> None:
    data = attention(run, layer=79)
    fig = attention_figure(data, run, step_views(run, data.positions, "attention"))
    assert data.weights.shape == (1, 256, 256) and data.heads == [0]
    assert measured(fig) <= LIMIT
    assert "head 0 of 64" in fig.layout.annotations[0].text


def test_measure_counts_what_is_sent() -> None:
    small = PromptRecord(
        label="x",
        tokens=["a", "b"],
        n_prompt=2,
        steps={0: {"m.0": torch.ones(1, 2, 3), "m.1": torch.ones(1, 2, 3)}},
    )
    fig = grid_figure(residual_norm(small), [])
    assert bundle_bytes(fig) == measured(fig) < 5_000
    assert fig.layout.annotations[0].text == "reduced: L2 norm over 3 units<br>colour: full range"
