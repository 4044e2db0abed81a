"""%invoker list | use | show | clear, on the store execute() reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker.invokers import selected_invoker

from .conftest import Recorder, write_prompt

FAKE_KEY = "sk-FAKE-MAGIC-LEAK-987654"


def test_list_shows_invokers_and_what_they_need_never_a_value(
    shell: InteractiveShell, displays: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell.run_line_magic("invoker", "list")
    table = displays.texts()[-1]
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert {"local", "openai", "azure", "serverless"} <= set(rows)
    assert "OPENAI_API_KEY" in rows["openai"] and " no " in rows["openai"]
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    shell.run_line_magic("invoker", "list")
    table = displays.texts()[-1]
    assert FAKE_KEY not in table and FAKE_KEY not in str(displays.messages)
    openai_row = next(line for line in table.splitlines() if line.startswith("openai"))
    assert "yes" in openai_row


def test_use_for_prompt_writes_the_store_and_invoke_rereads_it(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_prompt(Path.cwd())
    shell.run_line_magic("invoker", f"use serverless for {path.name}")
    assert selected_invoker(path) == "serverless"
    shell.run_line_magic("invoker", f"show {path.name}")
    assert f"{path.name}: serverless (selected)" in capsys.readouterr().out
    with pytest.raises(Exception, match="serverless invoker needs an endpoint"):
        shell.run_line_magic("invoke", path.name)  # re-read on this run: serverless
    shell.run_line_magic("invoker", f"clear {path.name}")
    assert selected_invoker(path) is None
    assert "local (the file's own; no selection)" in capsys.readouterr().out
    assert shell.run_line_magic("invoke", f"{path.name} --max-new-tokens 1").invoker == "local"


def test_use_alone_sets_this_kernels_default(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("invoker", "use serverless")
    shell.run_line_magic("invoker", "show")
    assert "this kernel's default: serverless" in capsys.readouterr().out
    with pytest.raises(Exception, match="serverless invoker needs an endpoint"):
        shell.run_line_magic("invoke", '"hello"')
    shell.run_line_magic("invoker", "clear")
    assert shell.run_line_magic("invoke", '"hello" --max-new-tokens 1').invoker == "local"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "say what to do"),
        ("fly", "cannot read 'fly'"),
        ("use nosuch", "No invoker is registered under 'nosuch'"),
        ("use local for missing.prompty", "PROMPT 'missing.prompty' is not an existing .prompty"),
        ("use local to x.prompty", "cannot read"),
    ],
)
def test_bad_invoker_commands(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("invoker", line)
    assert str(info.value).startswith("%invoker list | use NAME [for PROMPT]")
    assert message in str(info.value)
