"""Batched invokes (one row at a time), family views over a step's complete set, and
every option of show()/update() checked with a ViewError naming the valid values."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import ViewError

from .conftest import PARIS, tiny

pytestmark = pytest.mark.slow  # the default model's tokenizer

HELLO = "Hello there my friend"


@pytest.fixture(scope="module")
def lm(model: LanguageModel) -> LanguageModel:
    return tiny(model, "llama")


@pytest.fixture(scope="module")
def batched(lm: LanguageModel) -> Any:
    with lm.generate(max_new_tokens=2, do_sample=False) as generator:
        with generator.invoke([PARIS, HELLO]) as invoker:
            invoker.save_all()
    return generator


def test_each_row_of_a_batch_is_shown_with_its_own_tokens(batched: Any) -> None:
    first = ji.show(batched).figure
    assert "row 0 of 2" in first.layout.title.text
    assert first.layout.xaxis.ticktext[0] == "The"
    browser = ji.show(batched, row=1, view="residual_norm")
    fig = browser.figure
    assert "row 1 of 2" in fig.layout.title.text
    assert list(fig.layout.xaxis.ticktext) == ["Hello", "␣there", "␣my", "␣friend"]
    saved = batched.invokers[0].saved[0]["model.layers.1.output"]
    hidden = (saved[0] if isinstance(saved, tuple) else saved)[1, 5:]  # left padding dropped
    expected = torch.linalg.vector_norm(hidden.float(), dim=-1)
    torch.testing.assert_close(torch.from_numpy(fig.data[0].z[1].copy()), expected)
    with pytest.raises(ViewError, match=r"row=2 does not exist.*batch of 2.*\[0, 1\]"):
        ji.show(batched, row=2)

    # the live browser: a row menu for the batch, which switches the figure's row
    controls = browser.controls
    assert controls["row"].layout.display != "none"
    assert [value for _, value in controls["row"].options] == [0, 1]
    controls["row"].value = 0
    assert "row 0 of 2" in browser.figure.layout.title.text
    browser.update(row=1)
    assert controls["row"].value == 1 and "row 1 of 2" in browser.figure.layout.title.text


def test_a_single_prompt_has_no_row_menu(lm: LanguageModel) -> None:
    with lm.trace(PARIS) as tracer:
        tracer.invoker.save_all()
    browser = ji.show(tracer, view="residual_norm")
    assert "row" not in browser.figure.layout.title.text
    assert browser.controls["row"].layout.display == "none"


def test_family_views_use_the_complete_set_of_the_requested_step(lm: LanguageModel) -> None:
    with lm.generate(max_new_tokens=3, do_sample=False) as generator:
        with generator.invoke(PARIS) as invoker:
            invoker.save_all()
            invoker.next()
            lm.model.layers[0].output.save()  # one layer only at step 1
    for view in ("residual_norm", "logit_lens", "family"):
        module = "model.layers.*" if view == "family" else None
        fig = ji.show(generator, view=view, step=0, module=module).figure
        assert list(fig.layout.yaxis.ticktext) == ["0", "1"], view  # both layers
        assert not fig.layout.sliders and "step 0" in fig.layout.title.text
    default = ji.show(generator, view="residual_norm").figure  # the step with most layers
    assert list(default.layout.yaxis.ticktext) == ["0", "1"]
    step1 = ji.show(generator, view="residual_norm", step=1).figure
    assert list(step1.layout.yaxis.ticktext) == ["0"]  # what step 1 saved, prompt + 1 token
    assert len(step1.layout.xaxis.ticktext) == len(default.layout.xaxis.ticktext) + 1
    assert step1.layout.sliders[0].active == 1


def test_options_are_checked_at_show_and_update(batched: Any) -> None:
    bad_show = [
        ({"view": 3}, r"view=3 is a int: pass a string, one of logit_lens, residual_norm"),
        ({"invoke": "0"}, r"invoke='0' is a str: pass an int, one of \[0\]"),
        ({"invoke": 4}, r"invoke=4 has no saved module output.*\[0\]"),
        ({"step": "1"}, r"step='1' is a str: pass an int, one of the saved steps \[0\]"),
        ({"step": 3}, r"Step 3 was not saved.*pass step= one of \[0\]"),
        ({"row": 1.0}, r"row=1.0 is a float: pass an int"),
        ({"top_k": 0}, r"top_k=0 is out of range: pass an int from 1 to 20"),
        ({"nosuch": 1}, r"Unknown option 'nosuch': the options are view, invoke, row, step"),
        ({"compare": "1"}, r"compare='1' is a str: pass an int, invoke numbers from \[0\]"),
        ({"position": 99}, r"position=99 is outside .*: pass 0\.\.8"),  # step 0 only
        ({"track": 5}, r"track=5 is a int: pass a string"),
        ({"max_cells": 0}, r"max_cells=0 is out of range"),
        ({"layer": -1}, r"layer=-1 is negative"),
    ]
    for options, message in bad_show:
        with pytest.raises(ViewError, match=message):
            ji.show(batched, **options)
    browser = ji.show(batched)
    bad_update = [
        ({"top_k": 0}, r"top_k=0 is out of range: pass an int from 1 to 20"),
        ({"top_k": 100_000}, r"top_k=100000 is out of range: pass an int from 1 to 20"),
        ({"top_k": True}, r"top_k=True is a bool: pass an int"),
        ({"nosuch": 1}, r"Unknown option 'nosuch'"),
        ({"view": "heat"}, r"Unknown view 'heat': pick one of"),
        ({"invoke": "0"}, r"invoke='0' is a str"),
        ({"step": "0"}, r"step='0' is a str"),
    ]
    for options, message in bad_update:
        with pytest.raises(ViewError, match=message):
            browser.update(**options)
    assert browser.spec.top_k == 5  # a refused change leaves the view as it was
    browser.update(top_k=20, view="lens", step=0)
    assert browser.spec.top_k == 20 and browser.spec.view == "logit_lens"
