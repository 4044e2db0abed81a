"""Failure points: usage errors without tracebacks, names with what exists, body errors,
interrupts, and 100 failing magics that leave nothing behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from _shared import hooks_left, interrupt_after_steps, live_greenlets
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import InvokerConfigError
from jupyter_invoker.invokers import ExecutionResult

from .conftest import Recorder, write_prompt

EIFFEL = '"The Eiffel Tower is in the city of"'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "TARGET is missing"),
        ("--max-new-tokens 3", "TARGET is missing"),
        (f"{EIFFEL} --bad", "unrecognized arguments: --bad"),
        (f"{EIFFEL} --max-new-tokens 0", "--max-new-tokens: must be a whole number >= 1, not '0'"),
        (f"{EIFFEL} --max-new-tokens", "--max-new-tokens: expected one argument"),
        (f"{EIFFEL} -i city", "-i/--input takes KEY=VALUE"),
        (f"{EIFFEL} --out 1x", "--out needs a variable name, not '1x'"),
        (f"{EIFFEL} --invoker ,", "--invoker needs a name"),
        (f'{EIFFEL} --bogus "a b"', 'unrecognized arguments: --bogus "a b"'),  # not "--bogus  2"
        (f"{EIFFEL} --sav x", "unrecognized arguments: --sav x"),  # no abbreviations
        (f"{EIFFEL} --out model", "--out model: `model` is a name the magic binds itself"),
        (f"{EIFFEL} --out invoke", "--out invoke: `invoke` is a name the magic binds itself"),
        ('"unclosed', "No closing quotation"),
        # An unquoted prompt: say to quote it, with the quoted line.
        (
            "The Eiffel Tower is in --max-new-tokens 2",
            "needs quotes, or it reads as TARGET 'The' and stray words: "
            '%invoke "The Eiffel Tower is in"',
        ),
    ],
)
def test_bad_options_print_usage_and_no_traceback(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("invoke", line)
    assert message in str(info.value)
    if "closing quotation" not in message:
        assert str(info.value).startswith("usage: %invoke TARGET [--model VAR]")
    capsys.readouterr()
    shell.run_cell(f"%invoke {line}")
    err = capsys.readouterr().err
    assert "UsageError" in err and message in err and "Traceback" not in err


def test_generate_bad_option(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"(?s)usage: %%generate .*unrecognized arguments: x"):
        shell.run_cell_magic("generate", "x", "pass\n")
    # --save is its own option, never an abbreviation of --save-all
    with pytest.raises(UsageError, match=r"argument --save: expected one argument"):
        shell.run_cell_magic("generate", "--save", "pass\n")
    with pytest.raises(UsageError, match=r"unrecognized arguments: --save-al"):
        shell.run_cell_magic("generate", "--save-al", "pass\n")
    with pytest.raises(UsageError, match=r"--out generator: `generator` is a name the magic"):
        shell.run_cell_magic("generate", "--out generator", "pass\n")
    assert "generator" not in shell.user_ns


def test_missing_required_input_advises_dash_i(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("req.prompty").write_text(
        "---\nname: req\ninputs:\n  city:\n    type: string\n    required: true\n---\n"
        "user:\nWeather in {{city}}?\n"
    )
    Path("und.prompty").write_text("---\nname: und\n---\nuser:\nWeather in {{city}}?\n")
    with pytest.raises(UsageError, match=r"needs the input\(s\) city.*Add -i city=\.\.\."):
        shell.run_line_magic("invoke", "req.prompty")
    with pytest.raises(UsageError, match=r"uses input `city`, which was not given.*-i city="):
        shell.run_line_magic("invoke", "und.prompty")
    capsys.readouterr()
    shell.run_cell("%invoke req.prompty")
    err = capsys.readouterr().err
    assert "-i city=..." in err and "inputs={" not in err and "Traceback" not in err


def test_unknown_bare_word_names_both_possibilities(shell: InteractiveShell) -> None:
    shell.user_ns["prompt_text"] = "hi"
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("invoke", "prompt_txt")
    message = str(info.value)
    assert "neither a notebook variable nor an existing file" in message
    assert "Variables: prompt_text" in message  # closest first
    assert '%invoke "prompt_txt"' in message


def test_bad_target_variable_type(shell: InteractiveShell) -> None:
    shell.user_ns["number"] = 42
    with pytest.raises(UsageError, match=r"'number' holds int 42; a TARGET variable must hold"):
        shell.run_line_magic("invoke", "number")


def test_non_prompty_file(shell: InteractiveShell) -> None:
    Path("notes.txt").write_text("hi")
    with pytest.raises(UsageError, match=r"is a file but not a \.prompty prompt"):
        shell.run_line_magic("invoke", "notes.txt")


def test_unknown_input_variable_and_unknown_input_name(shell: InteractiveShell) -> None:
    path = write_prompt(Path.cwd())
    shell.user_ns["country_name"] = "Peru"
    with pytest.raises(
        UsageError, match=r"no notebook variable 'country_nam'\. Variables: country_name"
    ):
        shell.run_line_magic("invoke", f"{path.name} -i country=$country_nam")
    with pytest.raises(UsageError, match=r"has no input 'contry'; its inputs are country\. Fix"):
        shell.run_line_magic("invoke", f"{path.name} -i contry=Peru")
    with pytest.raises(UsageError, match=r"-i/--input fills the inputs of a \.prompty prompt"):
        shell.run_line_magic("invoke", f"{EIFFEL} -i country=Peru")


def test_unknown_invoker_lists_the_known_ones(shell: InteractiveShell) -> None:
    with pytest.raises(
        UsageError,
        match=r"No invoker is registered under 'nosuch'\. Known invokers: .*local.*serverless",
    ):
        shell.run_line_magic("invoke", f"{EIFFEL} --invoker nosuch")


def test_a_body_for_an_api_invoker_says_why_and_how(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"(?s)no model to look into.*line form.*--invoker local"):
        shell.run_cell_magic("invoke", f"{EIFFEL} --invoker serverless", "print(model)\n")
    # comments only are not a body
    with pytest.raises(Exception, match="serverless invoker needs an endpoint"):
        shell.run_cell_magic("invoke", f"{EIFFEL} --invoker serverless", "# just a note\n")


def test_hundred_failing_magics_leave_nothing_behind(
    shell: InteractiveShell, lm: LanguageModel
) -> None:
    threads, greenlets = threading.active_count(), live_greenlets()
    callbacks = sum(len(v) for v in shell.events.callbacks.values())
    cells = [
        ("invoke", f"{EIFFEL} --max-new-tokens 1", "raise ValueError('body failed')\n"),
        ("invoke", f"{EIFFEL} --max-new-tokens 1", "model.model.layers[9].output\nmodel.model.layers[2].output\n"),
        ("invoke", f"{EIFFEL} --max-new-tokens 1", "model.model.layers[5].output[:] = 1e4\n1 / 0\n"),
        ("invoke", f"{EIFFEL} --bogus", "pass\n"),
        ("generate", "--max-new-tokens 1", "with invoke('Hello'):\n    model.nope.output\n"),
    ]  # fmt: skip
    failures = 0
    for i in range(100):
        magic, line, body = cells[i % len(cells)]
        try:
            shell.run_cell_magic(magic, line, body)
        except Exception:
            failures += 1
    assert failures == 100
    assert hooks_left(lm) == [] and lm._active_generator is None
    assert live_greenlets() <= greenlets and threading.active_count() == threads
    assert sum(len(v) for v in shell.events.callbacks.values()) == callbacks
    ok = shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 2")
    assert ok.usage["completion_tokens"] == 2


def test_interrupt_stops_generation_within_one_step(
    shell: InteractiveShell, lm: LanguageModel
) -> None:
    lm.hf_model.generation_config.min_new_tokens = 400
    try:
        with interrupt_after_steps(lm) as overrun:
            with pytest.raises(KeyboardInterrupt):
                shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 400")
    finally:
        lm.hf_model.generation_config.min_new_tokens = None
    assert overrun() <= 1
    assert hooks_left(lm) == [] and lm._active_generator is None
    assert shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 2").text.strip()


def test_dollar_and_braces_reach_the_magic_unexpanded(shell: InteractiveShell) -> None:
    # run_cell goes through IPython's $var / {expr} expansion, as a kernel does
    write_prompt(Path.cwd())
    shell.user_ns.update(c="United States", x=5)
    run = shell.run_cell("%invoke capital.prompty -i country=$c --max-new-tokens 1 --out r1")
    assert run.success, run.error_in_exec or run.error_before_exec
    assert "capital of United States?" in str(shell.user_ns["r1"].prepared)
    run = shell.run_cell('%invoke "Price is $5 for {x}" --max-new-tokens 1 --out r2')
    assert run.success, run.error_in_exec or run.error_before_exec
    assert "Price is $5 for {x}" in str(shell.user_ns["r2"].prepared)


def test_a_failing_api_invoker_keeps_the_other_answers(
    shell: InteractiveShell, displays: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shell.run_cell(
        f"%invoke {EIFFEL} --invoker local,openai --max-new-tokens 1 --out rs", store_history=True
    )
    assert run.success, run.error_in_exec
    results = shell.user_ns["rs"]
    assert run.result is results and shell.user_ns["_"] is results
    assert isinstance(results[0], ExecutionResult) and results[0].invoker == "local"
    assert isinstance(results[1], InvokerConfigError)
    final = displays.live()[-1]
    assert "── openai · failed: InvokerConfigError" in final
    pane = final.split("── openai · failed: InvokerConfigError", 1)[1].strip()
    assert pane.count(". ") == 0 and pane.endswith(".")  # one sentence
    capsys.readouterr()
    run = shell.run_cell(f"%invoke {EIFFEL} --invoker openai,openai --max-new-tokens 1")
    err = capsys.readouterr().err
    assert isinstance(run.error_in_exec, UsageError) and "Every invoker failed." in err
    assert "Traceback" not in err


def test_more_new_tokens_than_the_context_names_the_limit(shell: InteractiveShell) -> None:
    with pytest.raises(InvokerConfigError) as info:
        shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 100000")
    message = str(info.value)
    assert "max_new_tokens=100000" in message and "8192 tokens" in message
    assert "config.max_position_embeddings" in message and "--max-new-tokens" in message
    # with the prompt counted, the advice is the room that is really left
    with pytest.raises(InvokerConfigError, match=r"after a \d+-token prompt"):
        shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 8190")
    assert shell.run_line_magic("invoke", f"{EIFFEL} --max-new-tokens 1").text
