"""The controls: only those that change the current view are shown, every shown one
changes the figure, the figure never names a module other than the menu's, and where
no kernel can draw them the controls' output reads as a sentence."""

from __future__ import annotations

from typing import Any

import pytest

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel

from .conftest import PARIS, tiny

pytestmark = pytest.mark.slow  # the default model's tokenizer

NEEDLE = "The Space Needle is in the city of"
ALWAYS = {"view", "invoke", "step"}  # two prompts, three steps


@pytest.fixture(scope="module")
def generator(model: LanguageModel) -> Any:
    lm = tiny(model, "llama", attn_implementation="eager")
    with lm.generate(max_new_tokens=3, do_sample=False) as generator:
        for prompt in (PARIS, NEEDLE):
            with generator.invoke(prompt) as invoker:
                for _ in range(3):
                    invoker.save_all()
                    invoker.next()
    return generator


def _shown(browser: Any) -> set[str]:
    return {name for name, w in browser.controls.items() if w.layout.display != "none"}


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("logit_lens", {"position", "top_k", "track", "compare", "diff"}),
        ("residual_norm", {"diff", "scale"}),
        ("family", {"module", "diff", "scale"}),
        ("module", {"module", "diff", "scale"}),
        ("attention", {"layer", "head", "diff", "scale"}),
        ("top_tokens", {"top_k"}),
    ],
)
def test_only_the_controls_that_apply_are_shown(
    generator: Any, view: str, expected: set[str]
) -> None:
    browser = ji.show(generator, view=view)
    assert _shown(browser) == ALWAYS | expected


def test_the_figure_names_the_module_the_menu_shows(generator: Any) -> None:
    browser = ji.show(generator, view="attention")
    layer = browser.controls["layer"]
    assert [value for _, value in layer.options] == [0, 1]
    assert browser.figure.layout.title.text.startswith(
        f"Attention · model.layers.{layer.value}.self_attn · layer {layer.value}"
    )
    layer.value = 0  # as the front end sets it
    assert browser.figure.layout.title.text.startswith("Attention · model.layers.0.self_attn")
    browser.controls["head"].value = 1
    assert "· head 1" in browser.figure.layout.title.text
    for view in ("module", "family"):
        browser.controls["view"].value = view
        menu = browser.controls["module"]
        assert browser.figure.layout.title.text.startswith(f"{menu.value} output"), view
        other = next(value for value in menu.options if value != menu.value)  # plain strings
        menu.value = other
        assert browser.figure.layout.title.text.startswith(f"{other} output"), view


def test_each_shown_control_changes_the_figure(
    generator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside a kernel show() displays nothing; an earlier test of the suite may have
    # left an IPython shell behind, so this one says there is none.
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    browser = ji.show(generator, view="residual_norm")
    c = browser.controls
    c["scale"].value = "log"
    assert "log scale" in browser.figure.layout.annotations[0].text
    c["diff"].value = 1
    assert "difference invoke 0 − invoke 1" in browser.figure.layout.title.text
    assert [label for label, _ in c["scale"].options] == ["robust (clip outliers)", "full range"]
    assert c["scale"].value == "robust"  # a difference is signed: no log
    c["diff"].value = "step"
    assert "each token − the one before" in browser.figure.layout.title.text
    c["diff"].value = "none"
    assert "difference" not in browser.figure.layout.title.text
    c["view"].value = "logit_lens"
    assert _shown(browser) == ALWAYS | {"position", "top_k", "track", "compare", "diff"}
    c["compare"].value = 1
    assert browser.figure.layout.title.text.startswith("Logit lens side by side")
    assert "step" not in _shown(browser) and "track" not in _shown(browser)
    c["diff"].value = 1  # a difference replaces the comparison
    assert browser.figure.layout.title.text.startswith("Logit lens difference invoke 0 − invoke 1")
    assert c["compare"].value == "none"
    c["invoke"].value = 1  # the difference with the prompt now shown is dropped
    assert browser.spec.diff is None and c["diff"].value == "none"
    assert browser.figure.layout.xaxis.ticktext[1] == "␣Space"
    c["step"].value = 0
    assert "step 0" in browser.figure.layout.title.text
    c["position"].value = 4
    menu = browser.figure.layout.updatemenus[0]
    assert menu.buttons[menu.active].label.startswith("pos 4 ")
    assert browser.sent == 0  # not displayed: nothing was sent


def test_a_refused_change_says_why_and_the_controls_show_the_view(generator: Any) -> None:
    browser = ji.show(generator, view="residual_norm")
    before = browser.figure
    browser._on_change("diff", 7)  # no such invoke: what a stale front end could send
    assert browser.figure is before and browser.error and "invoke=7" in browser.error
    controls = browser._control_box()
    assert "invoke=7" in controls.message.value and controls.widgets["diff"].value == "none"


def test_the_controls_read_as_a_sentence_without_a_kernel(generator: Any) -> None:
    from jupyter_invoker.widgets._controls import TEXT

    browser = ji.show(generator)
    data = browser._control_box().bundle()
    assert data["text/plain"] == TEXT and "VBox(" not in data["text/plain"]
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert len(TEXT) < 250 and "run the cell again" in TEXT
