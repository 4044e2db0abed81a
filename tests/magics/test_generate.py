"""%%generate: the seed example as a cell, with invoke bound."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker import LanguageModel
from jupyter_invoker.invokers import ExecutionResult

from .conftest import Recorder

SEED = """\
with invoke("Madison square garden is located in the city of New") as invoker:
    lm_head_one = model.lm_head.output.save()
with invoke("The Eiffel Tower is in the city of") as invoker:
    lm_head_two = model.lm_head.output.save()
"""


def test_seed_example_as_a_cell(
    shell: InteractiveShell, lm: LanguageModel, displays: Recorder
) -> None:
    result = shell.run_cell_magic("generate", "--max-new-tokens 3", SEED)
    ns = shell.user_ns
    decode = lm.tokenizer.decode
    assert decode(ns["lm_head_one"][0, -1].argmax()) == " York"
    assert decode(ns["lm_head_two"][0, -1].argmax()) == " Paris"
    assert isinstance(result, ExecutionResult) and result.generator is ns["generator"]
    assert len(result.extra["texts"]) == 2 and result.usage["completion_tokens"] == 6
    assert ns["invoke"] == ns["generator"].invoke
    final = displays.live()[-1]
    assert final.startswith("local · SmolLM2-135M-Instruct · 6 tokens")
    # Each completion stands after its own prompt.
    _, york, paris = final.splitlines()
    assert york.startswith('"Madison square garden is located in the city of New" → York')
    assert paris.startswith('"The Eiffel Tower is in the city of" → ')
    assert "Paris" in paris


def test_save_all_through_invoke_and_trace(
    shell: InteractiveShell, lm: LanguageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jupyter_invoker.widgets

    shown: list[object] = []
    monkeypatch.setattr(jupyter_invoker.widgets, "show", shown.append)
    result = shell.run_cell_magic(
        "generate", "--max-new-tokens 2 --save-all --out run", "with invoke('Hello'):\n    pass\n"
    )
    assert sorted(result.generator.saved[0]) == [0, 1]
    assert "model.layers.0.output" in result.generator.saved[0][1]
    assert shell.user_ns["run"] is result and shown == [result]
    traced = shell.run_cell_magic(
        "generate",
        "--trace --no-display",
        "with invoke('Hello there'):\n    x = model.lm_head.output.save()\n",
    )
    positions = len(lm.tokenizer("Hello there")["input_ids"])
    assert positions > 1 and shell.user_ns["x"].shape[:2] == (1, positions)
    assert traced.text == ""


def test_save_pattern(shell: InteractiveShell) -> None:
    result = shell.run_cell_magic(
        "generate",
        '--max-new-tokens 2 --no-display --save "lm_head"',
        "with invoke('Hello'):\n    pass\n",
    )
    assert [set(step) for step in result.generator.saved[0].values()] == [{"lm_head.output"}] * 2


def test_saving_only_the_logits_shows_the_top_tokens_per_step(
    shell: InteractiveShell, displays: Recorder
) -> None:
    shell.run_cell_magic(
        "generate", '--max-new-tokens 2 --save "lm_head"', "with invoke('Hello'):\n    pass\n"
    )
    figures = [
        data["application/vnd.plotly.v1+json"]["layout"]["title"]["text"]
        for data, _, _ in displays.messages
        if "application/vnd.plotly.v1+json" in data
    ]
    # one figure, the top tokens per step (not a one-row strip averaged over token ids)
    assert len(figures) == 1 and figures[0].startswith("Top tokens · lm_head"), figures


@pytest.mark.parametrize(
    "body",
    [
        "with invoke('Hello'):\n    pass\n",
        "with invoke('Hello'):\n    x = model.model.norm.input.save()\n",
    ],
    ids=["nothing saved", "only an input saved"],
)
def test_a_run_with_nothing_worth_a_figure_shows_no_browser(
    shell: InteractiveShell, displays: Recorder, body: str
) -> None:
    shell.run_cell_magic("generate", "--max-new-tokens 2", body)
    assert not [
        data for data, _, _ in displays.messages if "application/vnd.plotly.v1+json" in data
    ]
