"""%%invoke / %invoke on the local model, through a real IPython shell."""

from __future__ import annotations

import linecache
from pathlib import Path

import pytest
import torch
from _shared import hooks_left
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker import LanguageModel
from jupyter_invoker.invokers import ExecutionResult

from .conftest import Recorder, write_prompt

EIFFEL = '"The Eiffel Tower is in the city of"'


def plain_text(lm: LanguageModel, prompt: str, n: int) -> str:
    ids = lm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = lm.hf_model.generate(**ids, max_new_tokens=n, pad_token_id=lm.tokenizer.pad_token_id)
    return str(lm.tokenizer.decode(out[0, ids["input_ids"].shape[-1] :], skip_special_tokens=True))


def test_body_runs_inside_the_invoker_and_sees_real_tensors(
    shell: InteractiveShell, lm: LanguageModel, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell_magic(
        "invoke", f"{EIFFEL} --max-new-tokens 3",
        "print(model.model.layers[10].output.shape)\nseen = invoker\n",
    )  # fmt: skip
    assert "torch.Size([1, 9, 576])" in capsys.readouterr().out
    assert isinstance(result, ExecutionResult) and result.invoker == "local"
    assert result.text == plain_text(lm, "The Eiffel Tower is in the city of", 3)
    assert result.usage == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    assert shell.user_ns["seen"] is shell.user_ns["invoker"] is result.raw
    assert shell.user_ns["generator"] is result.generator
    assert shell.user_ns["model"] is lm


def test_an_intervention_changes_this_prompt_only(
    shell: InteractiveShell, lm: LanguageModel
) -> None:
    before = plain_text(lm, "The Eiffel Tower is in the city of", 4)
    edited = shell.run_cell_magic(
        "invoke", f"{EIFFEL} --max-new-tokens 4", "model.model.layers[10].output[:, -1] *= 0\n"
    )
    assert edited.text != before
    assert plain_text(lm, "The Eiffel Tower is in the city of", 4) == before


def test_line_form_runs_with_no_body(shell: InteractiveShell) -> None:
    result = shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 2")
    assert isinstance(result, ExecutionResult) and result.usage["completion_tokens"] == 2


def test_value_is_out_and_underscore_shown_once(
    shell: InteractiveShell, displays: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shell.run_cell(f"%invoke {EIFFEL} --max-new-tokens 2 --out answer", store_history=True)
    assert run.success
    result = run.result
    assert isinstance(result, ExecutionResult)
    assert shell.user_ns["_"] is result is shell.user_ns["answer"]
    assert shell.user_ns["Out"][shell.execution_count - 1] is result
    assert "ExecutionResult(" not in capsys.readouterr().out  # not shown a second time
    final = displays.live()[-1]
    assert final.startswith("local · SmolLM2-135M-Instruct · 2 tokens · ")
    assert final.endswith(result.text)
    ids = {display_id for _, display_id, _ in displays.messages}
    assert len(ids) == 1 and None not in ids  # one display, updated in place
    assert [update for _, _, update in displays.messages][:2] == [False, True]
    # a later cell shows the same result normally
    shell.run_cell("answer", store_history=True)
    assert "ExecutionResult(invoker='local'" in capsys.readouterr().out


def test_no_display_shows_nothing_and_the_value_normally(
    shell: InteractiveShell, displays: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shell.run_cell(f"%invoke {EIFFEL} --max-new-tokens 2 --no-display", store_history=True)
    assert run.success and displays.messages == []
    assert "ExecutionResult(invoker='local'" in capsys.readouterr().out


def test_trace_is_one_forward_with_every_position(shell: InteractiveShell) -> None:
    result = shell.run_cell_magic(
        "invoke", f"{EIFFEL} --trace", "logits = model.lm_head.output.save()\n"
    )
    assert shell.user_ns["logits"].shape[:2] == (1, 9)
    assert result.text == "" and result.usage["completion_tokens"] == 0


def test_save_all_saves_every_step_and_opens_the_browser(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jupyter_invoker.widgets

    shown: list[object] = []
    monkeypatch.setattr(jupyter_invoker.widgets, "show", shown.append)
    result = shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 2 --save-all")
    saved = result.generator.saved[0]
    assert sorted(saved) == [0, 1]
    assert "model.layers.10.output" in saved[0] and "lm_head.output" in saved[1]
    assert shell.user_ns["invoker"].step == 0
    assert shown == [result]


def test_save_pattern_keeps_matching_modules_and_the_body_saves(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jupyter_invoker.widgets

    shown: list[object] = []
    monkeypatch.setattr(jupyter_invoker.widgets, "show", shown.append)
    result = shell.run_cell_magic(
        "invoke", f"{EIFFEL} --max-new-tokens 2 --save 'model.layers.1?.mlp' --save lm_head",
        "mine = model.model.layers[3].output.save()\n",
    )  # fmt: skip
    step0 = result.generator.saved[0][0]
    assert "model.layers.3.output" in step0  # the body's own save stays
    expected = {f"model.layers.{i}.mlp.output" for i in range(10, 20)} | {"lm_head.output"}
    assert set(step0) - {"model.layers.3.output"} == expected
    assert set(result.generator.saved[0][1]) == expected
    assert shown == [result]


def test_save_pattern_wraps_only_the_matching_modules(shell: InteractiveShell) -> None:
    # Counted while the model is paused inside its forward: which modules have their
    # forward wrapped to record the output (--save no longer records all, then drops).
    body = (
        "model.model.layers[5].output\n"
        "wrapped = sorted(n for n, m in model.hf_model.named_modules() if 'forward' in vars(m))\n"
    )
    shell.run_cell_magic(
        "invoke", f"{EIFFEL} --max-new-tokens 2 --save 'model.layers.*.mlp' --no-display", body
    )
    wrapped = shell.user_ns.pop("wrapped")
    assert wrapped == sorted(f"model.layers.{i}.mlp" for i in range(30))


def test_two_local_runs_side_by_side_each_open_the_browser(
    shell: InteractiveShell, displays: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jupyter_invoker.widgets

    shown: list[object] = []
    monkeypatch.setattr(jupyter_invoker.widgets, "show", shown.append)
    results = shell.run_line_magic(
        "invoke", f"{EIFFEL} --invoker local,huggingface --max-new-tokens 1 --save lm_head"
    )
    assert [r.invoker for r in results] == ["local", "local"] and shown == results
    final = displays.live()[-1]
    assert "── local · SmolLM2-135M-Instruct · 1 token · " in final
    assert "── local (huggingface) · SmolLM2-135M-Instruct · 1 token · " in final


def test_save_pattern_matching_nothing_names_it(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"--save 'model\.layerz\.\*' matches no module"):
        shell.run_line_magic("invoke", f"{EIFFEL} --save model.layerz.*")
    # a container (a ModuleList is never called, so it has no output to save): refused
    # before the run, with the same rule save_all(only=...) applies
    with pytest.raises(UsageError, match=r"--save 'model\.layers' matches no module"):
        shell.run_line_magic("invoke", f"{EIFFEL} --save model.layers")


def test_nothing_saved_means_no_browser(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jupyter_invoker.widgets

    shown: list[object] = []
    monkeypatch.setattr(jupyter_invoker.widgets, "show", shown.append)
    shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 1")
    assert shown == []
    shell.run_cell_magic(
        "invoke", f"{EIFFEL} --max-new-tokens 1", "x = model.lm_head.output.save()"
    )
    assert len(shown) == 1


def test_variable_targets(shell: InteractiveShell, lm: LanguageModel) -> None:
    shell.user_ns["text"] = "The Eiffel Tower is in the city of"
    assert shell.run_line_magic("invoke", "text --max-new-tokens 2").text.strip()
    shell.user_ns["batch"] = ["The Eiffel Tower is in the city of", "Rome is the capital of"]
    batch = shell.run_line_magic("invoke", "batch --max-new-tokens 2")
    assert len(batch.extra["texts"]) == 2
    shell.user_ns["chat"] = [{"role": "user", "content": "What is the capital of France?"}]
    chat = shell.run_line_magic("invoke", "chat --max-new-tokens 6")
    assert "Paris" in chat.text
    import jupyter_invoker as ji

    shell.user_ns["prompt"] = ji.load(write_prompt(Path.cwd()))
    assert "Paris" in shell.run_line_magic("invoke", "prompt").text


def test_prompty_path_with_inputs_renders_the_chat_template(shell: InteractiveShell) -> None:
    path = write_prompt(Path.cwd())
    shell.user_ns["where"] = "Italy"
    result = shell.run_line_magic("invoke", f"{path.name} -i country=$where --max-new-tokens 7")
    assert "Rome" in result.text
    assert result.prepared[-1]["content"].endswith("capital of Italy? Answer in one word.")
    assert "<|im_start|>" in "".join(shell.user_ns["invoker"].tokens)
    assert result.usage["completion_tokens"] <= 7


def test_the_prompts_parameters_apply_locally(shell: InteractiveShell) -> None:
    path = write_prompt(Path.cwd(), "stops", max_tokens=12, stop=" is")
    result = shell.run_line_magic("invoke", path.name)
    assert result.text.endswith(" is") and result.usage["completion_tokens"] < 12
    sampled = write_prompt(Path.cwd(), "sampled", max_tokens=4, temperature=1.0, seed=7)
    runs = {shell.run_line_magic("invoke", sampled.name).text for _ in range(2)}
    assert len(runs) == 1  # the seed makes sampling repeatable


def test_model_option_and_the_default_model(shell: InteractiveShell, lm: LanguageModel) -> None:
    del shell.user_ns["model"]
    shell.user_ns["lm"] = lm
    shell.run_line_magic("invoke", f"{EIFFEL} --model lm --max-new-tokens 1")
    assert "model" not in shell.user_ns  # --model VAR binds nothing else
    shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 1")
    assert shell.user_ns["model"] is lm  # the kernel's cached default, bound as `model`


def test_a_model_variable_holding_something_else_is_never_replaced(
    shell: InteractiveShell,
) -> None:
    shell.user_ns["model"] = "gpt-4o"
    with pytest.raises(UsageError, match=r"`model` holds a str, not a LanguageModel.*--model VAR"):
        shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 1")
    assert shell.user_ns["model"] == "gpt-4o"
    with pytest.raises(UsageError, match=r"--model nope: that variable is not defined"):
        shell.run_line_magic("invoke", f"{EIFFEL} --model nope")


def test_body_error_shows_the_users_cell_line(shell: InteractiveShell, lm: LanguageModel) -> None:
    with pytest.raises(ZeroDivisionError) as info:
        shell.run_cell_magic("invoke", f"{EIFFEL} --max-new-tokens 2", "x = 1\n1 / 0\n")
    last = info.traceback[-1]
    assert last.lineno + 1 == 3  # the cell's third line: %%invoke is line 1
    assert linecache.getline(str(last.path), last.lineno + 1).strip() == "1 / 0"
    assert hooks_left(lm) == [] and lm._active_generator is None


def test_a_body_that_saves_no_module_output_opens_no_browser(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The browser shows module outputs only: a saved input alone once opened it, and
    # the cell then failed with "Nothing to show" after the run had succeeded.
    import jupyter_invoker.widgets

    shown: list[object] = []
    monkeypatch.setattr(jupyter_invoker.widgets, "show", shown.append)
    result = shell.run_cell_magic(
        "invoke", f"{EIFFEL} --max-new-tokens 1", "h = model.model.layers[0].input.save()\n"
    )
    assert list(result.generator.saved[0][0]) == ["model.layers.0.input"]
    assert shown == []


def test_a_completion_the_model_ends_at_once_says_so(
    shell: InteractiveShell, displays: Recorder
) -> None:
    # The assistant's answer is complete: the model's next token ends the sequence.
    shell.user_ns["answered"] = (
        "<|im_start|>user\nWhat is 2+2? Answer with one number.<|im_end|>\n"
        "<|im_start|>assistant\nThe answer is 4."
    )
    result = shell.run_line_magic("invoke", "answered --max-new-tokens 5")
    assert result.text == "" and result.usage["completion_tokens"] == 1
    final = displays.live()[-1]
    header, text = final.split("\n", 1)
    assert "· 1 token ·" in header
    assert text == "(the model ended the sequence at once: its first token was end-of-sequence)"
