"""The activation browser live in real JupyterLab 4 and Notebook 7 (Debian's Chromium
through Playwright): every control, changed as a user changes it, changes the figure
ON SCREEN to what the controls say; the saved notebook holds the view last on screen;
reopened untrusted with no kernel, that view still renders and the controls' place
shows a sentence.

Each control is changed in the DOM (a select, the step slider's handle, a number or
text field + Enter) and the figure is then read from the page: the plot node's title
text and its data and layout (``el.data`` / ``el.layout`` of the ``.js-plotly-plot``
node), as plotly drew them. Plotly's own renderer keeps the first figure on screen
whatever the kernel sends (it returns early when a plot exists), so these tests fail
without this package's renderer: ``JUPYTER_INVOKER_UI_DISABLE=jupyter-invoker:figure``
disables it in the page (the check this file was verified with).

One server (JupyterLab, which also serves Notebook 7's ``/notebooks/`` pages) and one
browser serve the module; the kernel runs a 3-layer random model on the default
tokenizer (what is checked is which view is drawn, not what the model knows).
Screenshots go to ``test-artifacts/ui/live-*.png``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LabServer, _start, answer_no_kernel, wait_until

pytestmark = pytest.mark.slow  # a jupyter server, a kernel and Chromium

PLOT = ".jp-OutputArea-output.js-plotly-plot"
PLOTLY = "application/vnd.plotly.v1+json"
CONTROLS_TEXT = "Activation browser controls"
DIVERGING = "rgb(247,247,247)"  # the white middle of RdBu, the scale of every difference
CHANGE_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 240_000
SAVE_TIMEOUT_S = 20

SETUP = """\
import torch, transformers as tf
import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.models._default import default_model_path
tok = tf.AutoTokenizer.from_pretrained(default_model_path())
torch.manual_seed(0)
config = tf.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
    num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1,
    max_position_embeddings=128, pad_token_id=tok.pad_token_id, attn_implementation="eager")
lm = LanguageModel(tf.LlamaForCausalLM(config).eval(), tokenizer=tok)
with lm.generate(max_new_tokens=3, do_sample=False) as generator:
    for prompt in ("The Eiffel Tower is in the city of", "The Space Needle is in the city of"):
        with generator.invoke(prompt) as invoker:
            for _ in range(3):
                invoker.save_all()
                invoker.next()"""
SHOW = "browser = ji.show(generator)"

# What the page reads off the plot node: its drawn title, notes, menus and data.
READ = """(el) => {
  const texts = sel => Array.from(el.querySelectorAll(sel)).map(e => e.textContent);
  return {
    title: (el.querySelector('.gtitle') || {}).textContent || '',
    notes: texts('.annotation-text').join(' | '),
    menu: texts('.updatemenu-header-group .updatemenu-item-text').join(' | '),
    colorbar: texts('.cbtitle text').join(' | '),
    legend: texts('.legendtext'),
    xticks: texts('.xtick text'),
    heatmaps: el.querySelectorAll('.heatmaplayer image, .hm image').length,
    slider: el.layout.sliders && el.layout.sliders.length ? el.layout.sliders[0].active : null,
    traces: el.data.map(t => ({
      type: t.type, name: t.name || '', colorscale: String(t.colorscale || ''),
      zmin: t.zmin, zmax: t.zmax, visible: t.visible,
      hover: Array.isArray(t.hovertext) ? String(t.hovertext[0][0]) : '',
      hovertemplate: t.hovertemplate || '',
    })),
  };
}"""


def _notebook(path: Path, cells: list[str], kernel: str = "python3") -> None:
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "execution_count": None, "id": f"c{i}",
                     "metadata": {}, "outputs": [], "source": source}
                    for i, source in enumerate(cells)
                ],
                "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                            "language": "python", "name": kernel}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One JupyterLab server for the module; ``JUPYTER_INVOKER_UI_DISABLE`` (plugin ids,
    comma-separated) disables front-end plugins in its pages."""
    root = tmp_path_factory.mktemp("live")
    for app in ("lab", "notebook"):
        _notebook(root / f"live-{app}.ipynb", [SETUP, SHOW])
    lab = _start(tmp_path_factory.mktemp("lab-home"), root, "lab", {}, [])
    disabled = [p for p in os.environ.get("JUPYTER_INVOKER_UI_DISABLE", "").split(",") if p]
    if disabled:
        config = lab.home / "jupyter-config" / "labconfig" / "page_config.json"
        page_config = json.loads(config.read_text())
        page_config["disabledExtensions"].update(dict.fromkeys(disabled, True))
        config.write_text(json.dumps(page_config))
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def kernelless(server: LabServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A second server over the same folder that can start no kernel at all."""
    lab = _start(tmp_path_factory.mktemp("kernelless-home"), server.root, "lab", {},
                 ["--KernelSpecManager.allowed_kernelspecs=none"])  # fmt: skip
    yield lab
    lab.stop()


def _figure(page: Any) -> dict[str, Any]:
    return dict(page.locator(PLOT).first.evaluate(READ))


def _wait(page: Any, check: Any, what: str) -> dict[str, Any]:
    """Read the figure on screen until ``check(figure)`` holds; fail saying what was drawn."""
    return wait_until(
        f"the figure on screen showing {what}",
        lambda: _figure(page) if page.locator(PLOT).count() else {},
        lambda figure: bool(figure) and check(figure),
        page=page,
        timeout_s=CHANGE_TIMEOUT_S,
    )


def _control(page: Any, name: str) -> Any:
    return page.locator(f".ji-control-{name}").first


def _select(page: Any, name: str, label: str) -> None:
    _control(page, name).locator("select").select_option(label=label)


def _type(page: Any, name: str, value: str) -> None:
    field = _control(page, name).locator("input")
    field.fill(value)
    field.press("Enter")


def _visible(page: Any) -> set[str]:
    names = ("view", "invoke", "row", "module", "layer", "head", "step", "position", "top_k",
             "track", "compare", "diff", "scale")  # fmt: skip
    return {name for name in names if _control(page, name).is_visible()}


def _run_all(server: LabServer, page: Any, name: str) -> None:
    """Wait for the notebook's kernel (idle, with the page connected), then Run > Run All
    Cells; wait for the controls and the figure."""
    wait_until(
        f"an idle kernel for {name} with the page connected",
        lambda: [s["kernel"] for s in server.api("GET", "api/sessions")[1] if s["path"] == name],
        lambda kernels: (
            kernels and kernels[0]["execution_state"] == "idle" and kernels[0]["connections"]
        ),
        page=page,
        timeout_s=RUN_TIMEOUT_MS / 1000,
    )
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.locator(PLOT + " .main-svg").first.wait_for(timeout=RUN_TIMEOUT_MS)
    _control(page, "view").wait_for(state="visible", timeout=RUN_TIMEOUT_MS)


def _saved_title(notebook: Path) -> str:
    """The title of the last figure in the saved notebook's second cell ('' if none)."""
    cells = json.loads(notebook.read_text())["cells"]
    figures = [o["data"][PLOTLY] for o in cells[1]["outputs"] if PLOTLY in o.get("data", {})]
    return str(figures[-1]["layout"]["title"]["text"]) if figures else ""


def _drive_every_control(page: Any, shot: Any) -> dict[str, Any]:
    """Change each control as a user does; read the figure on screen after each."""
    fig = _wait(page, lambda f: f["title"].startswith("Logit lens ·"), "the logit lens")
    assert "step 2" in fig["title"] and fig["menu"].startswith("pos 10 "), fig
    shown = _visible(page)
    assert {"view", "invoke", "step", "position", "top_k", "track", "compare", "diff"} <= shown
    assert not shown & {"module", "layer", "head", "scale", "row"}, shown  # nothing inert

    # step: the slider's handle, by keyboard; the trajectory panel follows to the
    # prompt's last token (position 8), which exists at step 0
    handle = _control(page, "step").locator(".noUi-handle")
    handle.focus()
    handle.press("Home")
    fig = _wait(page, lambda f: "step 0" in f["title"], "step 0")
    assert fig["slider"] == 0 and fig["menu"].startswith("pos 8 "), fig
    # drawn by this package's renderer (plotly's own keeps the first figure on screen)
    assert "jp-InvokerFigure" in (page.locator(PLOT).first.get_attribute("class") or "")

    _type(page, "position", "3")
    fig = _wait(page, lambda f: f["menu"].startswith("pos 3 "), "the trajectory at position 3")
    assert "step 0" in fig["title"], fig

    _type(page, "top_k", "3")
    fig = _wait(page, lambda f: f["traces"][0]["hover"].count("<br>") == 3, "top-3 hovers")
    assert len([t for t in fig["traces"] if t["type"] == "scatter"]) == 3, fig

    _type(page, "track", " Paris")
    fig = _wait(page, lambda f: any(n.endswith("(tracked)") for n in f["legend"]), "a tracked line")

    _select(page, "compare", "invoke 1")
    fig = _wait(page, lambda f: f["title"].startswith("Logit lens side by side"), "side by side")
    assert [t["type"] for t in fig["traces"]] == ["heatmap", "heatmap"], fig
    assert "step" not in _visible(page)  # side by side shows the last step only

    _select(page, "diff", "− invoke 1")
    fig = _wait(page, lambda f: f["title"].startswith("Logit lens difference invoke 0 − invoke 1"),
                "the lens difference")  # fmt: skip
    assert DIVERGING in fig["traces"][0]["colorscale"] and "−" in fig["traces"][0]["hover"], fig
    assert "compare" in _visible(page) and "track" not in _visible(page)
    shot("lens-difference")

    _select(page, "diff", "none")
    _wait(page, lambda f: f["title"].startswith("Logit lens ·"), "the lens again")
    _select(page, "invoke", "invoke 1: 'The Space Needle is in the city of'")
    fig = _wait(page, lambda f: "␣Space" in f["xticks"], "the second prompt's tokens")
    assert fig["title"].startswith("Logit lens ·"), fig
    _select(page, "invoke", "invoke 0: 'The Eiffel Tower is in the city of'")
    _wait(page, lambda f: "␣Tower" in f["xticks"], "the first prompt's tokens")

    _select(page, "view", "residual_norm")
    fig = _wait(page, lambda f: f["title"].startswith("Residual norm · model.layers.*"), "norms")
    assert "colour" in fig["notes"], fig
    shown = _visible(page)
    assert {"scale", "diff", "step"} <= shown and not shown & {"top_k", "track", "module"}, shown

    _select(page, "scale", "log")
    fig = _wait(page, lambda f: "log scale" in f["notes"], "the log colour scale")
    assert fig["colorbar"] == "L2 norm (log)", fig
    shot("residual-log")
    _select(page, "scale", "full range")
    fig = _wait(page, lambda f: "colour: full range" in f["notes"], "the full colour range")

    _select(page, "diff", "− token before (step t − t−1)")
    fig = _wait(page, lambda f: "each token − the one before" in f["title"], "the step difference")
    assert DIVERGING in fig["traces"][0]["colorscale"], fig
    assert "this token" in fig["traces"][0]["hovertemplate"], fig  # both sides in the hover
    _select(page, "diff", "− invoke 1")
    fig = _wait(page, lambda f: "difference invoke 0 − invoke 1" in f["title"], "A − B norms")
    _select(page, "diff", "none")
    _wait(page, lambda f: "difference" not in f["title"], "no difference")

    _select(page, "view", "module")
    fig = _wait(page, lambda f: f["title"].startswith("model.layers.2.mlp output"), "module view")
    assert _control(page, "module").locator("select").input_value() != ""
    assert "module" in _visible(page)
    _select(page, "module", "model.layers.1.mlp")
    _wait(page, lambda f: f["title"].startswith("model.layers.1.mlp output"), "layer 1's MLP")

    _select(page, "view", "family")
    _wait(page, lambda f: f["title"].startswith("model.layers.*.mlp output norm"), "the family")
    _select(page, "module", "model.layers.*.self_attn")
    _wait(page, lambda f: f["title"].startswith("model.layers.*.self_attn output norm"), "attn")

    _select(page, "view", "attention")
    fig = _wait(page, lambda f: f["title"].startswith("Attention · model.layers.2.self_attn"),
                "attention")  # fmt: skip
    shown = _visible(page)
    assert {"layer", "head", "scale"} <= shown and "module" not in shown, shown
    _select(page, "layer", "1")
    _wait(page, lambda f: f["title"].startswith("Attention · model.layers.1.self_attn · layer 1"),
          "layer 1's attention")  # fmt: skip
    _select(page, "head", "1")
    fig = _wait(page, lambda f: "· head 1" in f["title"], "head 1")
    assert fig["traces"][0]["hovertemplate"].startswith("head 1"), fig
    shot("attention")

    _select(page, "view", "top_tokens")
    fig = _wait(page, lambda f: f["title"].startswith("Top tokens · lm_head"), "the top tokens")
    return fig


@pytest.mark.parametrize(("app", "path"), [("lab", "lab/tree/{}"), ("notebook", "notebooks/{}")])
def test_every_control_redraws_the_figure_on_screen(
    server: LabServer, kernelless: LabServer, browser: Any, artifacts: Path, app: str, path: str
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    ready = "#jp-main-dock-panel" if app == "lab" else "#main-panel"
    name = f"live-{app}.ipynb"

    def shot(label: str) -> None:
        page.screenshot(path=str(artifacts / f"live-{app}-{label}.png"))

    try:
        server.open(page, path.format(name), ready=ready)
        _run_all(server, page, name)
        shot("first")
        last = _drive_every_control(page, shot)
        shot("last")

        # Save: the notebook holds the view last on screen.
        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        wait_until(
            f"the saved notebook holding the view last on screen ({last['title']!r})",
            lambda: _saved_title(server.root / name),
            lambda saved: saved == last["title"],
            page=page,
            timeout_s=SAVE_TIMEOUT_S,
        )
    except Exception:
        shot("failed")
        raise
    finally:
        context.close()

    # Reopened: a copy this server never signed (untrusted) with a kernel that does
    # not exist (no kernel).
    copy = server.root / f"reopened-{app}.ipynb"
    notebook = json.loads((server.root / name).read_text())
    notebook["metadata"]["kernelspec"] = {"name": "no-such-kernel", "display_name": "none",
                                          "language": "python"}  # fmt: skip
    copy.write_text(json.dumps(notebook))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        kernelless.open(page, path.format(copy.name), ready=ready)
        answer_no_kernel(page)
        fig = _wait(page, lambda f: f["title"] == last["title"] and f["heatmaps"] >= 1,
                    "the saved view, reopened")  # fmt: skip
        text = page.locator(".jp-Notebook").first.inner_text()
        shot("reopened")
        assert CONTROLS_TEXT in text and "VBox(children" not in text, text[:3000]
        shot("reopened")
        assert fig["traces"][0]["type"] == "heatmap"
    finally:
        context.close()
