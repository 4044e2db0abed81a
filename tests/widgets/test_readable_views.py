"""Views that read well on real activations: a colour scale that position 0 cannot
saturate (and says so), a trajectory panel that follows the figure's own step slider,
windows that move to any position of a long prompt, a module error that names a
module that exists in valid Python, and the top tokens per step for a run that saved
only the logits."""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np
import pytest
import torch

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import ViewError

from .conftest import PARIS, tiny

pytestmark = pytest.mark.slow  # the real default model (or its tokenizer)


def test_residual_norm_is_not_saturated_by_position_0(paris_generate: Any) -> None:
    fig = ji.show(paris_generate, view="residual_norm").figure
    heat = fig.data[0]
    z = np.asarray(heat.z)
    assert z[:, 0].max() > 20 * np.median(z[:, 1:])  # the real model's outlier column
    # min..max would leave every other cell in the bottom 5% of the scale
    assert heat.zmax < z.max() / 10
    typical = float(np.median(z[:, 1:]))
    share = (typical - heat.zmin) / (heat.zmax - heat.zmin)
    naive = (typical - z.min()) / (z.max() - z.min())
    assert naive < 0.01 and share > 10 * naive, (share, naive)  # a typical cell, seen
    notes = fig.layout.annotations[0].text
    assert re.search(r"colour clipped at [\d.e+]+ \(Q3 \+ 3·IQR; max [\d.e+]+\)", notes), notes
    assert "scale='full' or 'log'" in notes
    assert heat.colorbar.title.text == "L2 norm (clipped)"

    full = ji.show(paris_generate, view="residual_norm", scale="full").figure.data[0]
    assert full.zmax == pytest.approx(float(z.max())) and full.zmin == pytest.approx(float(z.min()))
    log = ji.show(paris_generate, view="residual_norm", scale="log").figure
    cells = log.data[0]
    np.testing.assert_allclose(np.asarray(cells.z), np.log10(z), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(cells.customdata)[..., 0], z, rtol=1e-6
    )  # hover: the value
    assert (
        "%{customdata[0]" in cells.hovertemplate and "log scale" in log.layout.annotations[0].text
    )
    assert [float(t) for t in cells.colorbar.ticktext][:1] and cells.colorbar.title.text.endswith(
        "(log)"
    )
    with pytest.raises(ViewError, match=r"scale='log' needs values that are never negative"):
        ji.show(paris_generate, view="module", scale="log")
    with pytest.raises(ViewError, match=r"Unknown scale 'loud': pick one of robust, full, log"):
        ji.show(paris_generate, view="residual_norm", scale="loud")


def test_the_trajectory_panel_follows_the_figures_own_step_slider(
    model: LanguageModel, paris_generate: Any
) -> None:
    invoker = paris_generate.invokers[0]
    n = invoker.input_ids.shape[-1]
    fig = ji.show(paris_generate).figure  # the last step: the panel at the last token
    menu = fig.layout.updatemenus[0]
    slider = fig.layout.sliders[0]
    assert menu.buttons[menu.active].label.startswith(f"pos {n + 2} ")
    lines = [t for t in fig.data if t.type == "scatter"]
    for i, step in enumerate(slider.steps):
        assert step.method == "update"  # moves the panel, not only the axis range
        _, layout, indices = step.args
        edge = n - 1 + i  # the token step i runs over
        label = menu.buttons[layout["updatemenus[0].active"]].label
        assert label.startswith(f"pos {edge} "), (i, label)
        assert list(indices) == list(range(1, 1 + len(lines)))
        assert f"step {i}" in layout["title.text"]
    # step 0's lines are the final top-5 of the prompt's last token, in order
    logits = invoker.saved[0]["lm_head.output"][0, -1]
    top5 = model.tokenizer.batch_decode([[t] for t in logits.topk(5).indices.tolist()])
    names = slider.steps[0].args[0]["name"]
    assert [name.replace("␣", " ") for name in names] == top5
    # the kernel's step control gives the same figure at step 0
    at0 = ji.show(paris_generate, step=0).figure
    assert (
        at0.layout.updatemenus[0]
        .buttons[at0.layout.updatemenus[0].active]
        .label.startswith(f"pos {n - 1} ")
    )
    assert [t.name for t in at0.data if t.type == "scatter"] == names
    # a chosen position the step has reached stays chosen
    chosen = ji.show(paris_generate, position=3).figure
    for step in chosen.layout.sliders[0].steps:
        label = chosen.layout.updatemenus[0].buttons[step.args[1]["updatemenus[0].active"]].label
        assert label.startswith("pos 3 ")


@pytest.fixture(scope="module")
def long_run(model: LanguageModel) -> Any:
    """A 600-token prompt on a random 2-layer model with eager attention."""
    lm = tiny(model, "llama", attn_implementation="eager", max_position_embeddings=1024)
    prompt = " ".join(f"word{i}" for i in range(300))
    ids = lm.tokenizer(prompt).input_ids[:600]
    with lm.trace(lm.tokenizer.decode(ids)) as tracer:
        tracer.invoker.save_all()
    return tracer


def _token_positions(fig: Any) -> list[int]:
    """The absolute positions a figure's token axis shows."""
    heat = fig.data[0]
    values = heat.y if fig.layout.yaxis.title.text == "token" else heat.x
    return [int(v) for v in values]


@pytest.mark.parametrize("view", ["residual_norm", "family", "module", "attention", "logit_lens"])
def test_every_position_of_a_long_prompt_is_reachable(long_run: Any, view: str) -> None:
    browser = ji.show(long_run, view=view)
    last = len(browser.capture.run(0).tokens) - 1  # a trace: every token was run
    assert last >= 590
    for position in (0, 5, 300, last):
        browser.update(position=position)
        fig = browser.figure
        notes = fig.layout.annotations[0].text
        window = re.search(r"positions (\d+)–(\d+) of (\d+)", notes)
        assert window, notes
        low, high = int(window[1]), int(window[2])
        assert low <= position <= high, (position, notes)
        if view in ("residual_norm", "family", "module"):
            assert _token_positions(fig) == list(range(low, high + 1))
        else:  # token axes by index: one column per position of the window
            assert len(fig.data[0].z[0]) == high - low + 1
        # a browser draws and measures every label: a long axis labels every k-th token
        labels = [fig.layout.xaxis.ticktext, fig.layout.yaxis.ticktext]
        assert all(len(t or ()) <= 128 for t in labels), [len(t or ()) for t in labels]
    control = browser.controls["position"]  # shown, and reaches every position
    assert control.layout.display != "none" and control.max == last and control.value == last


def test_a_run_that_saved_only_the_logits_shows_the_top_tokens_per_step(
    model: LanguageModel,
) -> None:
    from jupyter_invoker.widgets import worth_showing

    with model.generate(max_new_tokens=4, do_sample=False) as generator:
        with generator.invoke(PARIS) as invoker:
            for _ in range(4):
                model.lm_head.output.save()
                invoker.next()
    assert worth_showing(generator)
    browser = ji.show(generator)
    fig = browser.figure
    assert browser.spec.view == "top_tokens" and fig.layout.title.text.startswith(
        "Top tokens · lm_head"
    )
    n = invoker.input_ids.shape[-1]
    assert [int(p) for p in fig.data[0].y] == [n - 1, n, n + 1, n + 2]  # one row per step
    generated = model.tokenizer.batch_decode([[t] for t in invoker.output_ids[0, n:].tolist()])
    top1 = [row[0].replace("␣", " ").replace("⏎", "\n") for row in fig.data[0].text]
    assert top1 == generated  # greedy: each step's top-1 is the token it generated
    probs = np.asarray(fig.data[0].z)
    assert probs.shape == (4, 5) and (np.diff(probs, axis=1) <= 0).all()
    assert "module" not in {n for n, w in browser.controls.items() if w.layout.display != "none"}

    # nothing worth a figure: no (batch, position, ...) tensor, or nothing saved
    assert not worth_showing({"loss": torch.tensor(1.0)})
    with model.generate(max_new_tokens=1) as empty:
        with empty.invoke(PARIS):
            pass
    assert not worth_showing(empty)


def test_a_misspelt_module_gets_a_did_you_mean_and_valid_python(
    model: LanguageModel, paris_trace: Any
) -> None:
    with pytest.raises(ViewError) as typo:
        ji.show(paris_trace, view="module", module="model.layers.10.mlpp")
    message = str(typo.value)
    suggestion = re.search(r"Did you mean '([\w.]+)'\?", message)
    assert suggestion and suggestion[1] == "model.layers.10.mlp", message
    saved = {k.removesuffix(".output") for k in paris_trace.saved[0][0]}
    assert suggestion[1] in saved
    with model.trace(PARIS) as tracer:
        model.model.layers[0].output.save()
    with pytest.raises(ViewError) as unsaved:
        ji.show(tracer, view="module", module="model.layers.10.mlp")
    code = re.search(r"block: (\S+) \(", str(unsaved.value))
    assert code and code[1] == "model.model.layers[10].mlp.output.save()", str(unsaved.value)
    ast.parse(code[1])  # valid Python
    module = eval(code[1].removesuffix(".output.save()"), {"model": model.hf_model})
    assert module is model.hf_model.model.layers[10].mlp  # the LanguageModel mirrors this tree
    with pytest.raises(ViewError, match=r"Did you mean 'model\.layers\.\*\.mlp'\?"):
        ji.show(paris_trace, view="family", module="model.layers.*.mlpp")
