"""API invokers through the magics, against a real ``transformers serve`` on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker.invokers import ExecutionResult, save_connection, select_invoker

from .conftest import Recorder, write_prompt

FAKE_KEY = "sk-FAKE-MAGIC-LEAK-123456"
pytestmark = pytest.mark.slow


@pytest.fixture
def served(
    shell: InteractiveShell, serve_url: str, default_model: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A prompt written for the served model, its key in an environment variable."""
    monkeypatch.setenv("MAGIC_TEST_KEY", FAKE_KEY)
    config = {
        "type": "serverless",
        "endpoint": serve_url,
        "model": default_model,
        "key": "${env:MAGIC_TEST_KEY}",
    }
    return write_prompt(Path.cwd(), "served", config)


def test_line_form_streams_through_execute(
    shell: InteractiveShell, served: Path, displays: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shell.run_cell(f"%invoke {served.name} -i country=Japan", store_history=True)
    assert run.success
    result = run.result
    assert isinstance(result, ExecutionResult) and result.invoker == "serverless"
    assert "Tokyo" in result.text and shell.user_ns["_"] is result
    live = displays.live()
    assert live[-1].startswith("serverless · SmolLM2-135M-Instruct · ")
    assert live[-1].endswith(result.text)
    assert len(live) >= 2  # first display, then at least the final update
    out = capsys.readouterr()
    assert "ExecutionResult(" not in out.out
    everything = str(displays.messages) + out.out + out.err + repr(result) + str(vars(result))
    assert FAKE_KEY not in everything


def test_side_by_side_on_local_and_serverless(
    shell: InteractiveShell, served: Path, displays: Recorder
) -> None:
    results = shell.run_line_magic("invoke", f"{served.name} --invoker local,serverless")
    assert [r.invoker for r in results] == ["local", "serverless"]
    assert all(isinstance(r, ExecutionResult) and "Paris" in r.text for r in results)
    final = displays.live()[-1]
    assert final.count("── ") == 2 and "── local · SmolLM2-135M-Instruct · " in final
    assert "── serverless · " in final
    html = displays.messages[-1][0]["text/html"]
    assert html.count('<div style="flex:1 1 0') == 2
    assert FAKE_KEY not in str(displays.messages)


def test_a_literal_prompt_on_a_named_connection(
    shell: InteractiveShell, serve_url: str, default_model: str
) -> None:
    save_connection("served", "serverless", {"endpoint": serve_url, "model": default_model})
    result = shell.run_line_magic(
        "invoke", '"What is the capital of France? One word." --invoker served --max-new-tokens 5'
    )
    assert result.invoker == "serverless" and "France" in result.text
    assert result.usage["completion_tokens"] <= 5


def test_selection_with_configuration_is_read_on_every_run(
    shell: InteractiveShell, serve_url: str, default_model: str
) -> None:
    path = write_prompt(Path.cwd())
    assert shell.run_line_magic("invoke", f"{path.name} --max-new-tokens 1").invoker == "local"
    select_invoker(
        path, "serverless", configuration={"endpoint": serve_url, "model": default_model}
    )
    assert shell.run_line_magic("invoke", path.name).invoker == "serverless"
