"""What a cell shows around a run, in a real kernel: the model loading, expected failures
as one sentence and the user's line (``%tb`` for the rest), the right cell numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _shared import execute, free_port, running_kernel, value

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A kernel that has loaded the extension and nothing else: no model yet."""
    folder = tmp_path_factory.mktemp("fresh")
    with running_kernel(folder) as (_, kc):
        yield kc, folder


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _lines(reply: dict[str, Any]) -> list[str]:
    return _plain("\n".join(reply["traceback"])).splitlines()


def test_the_first_run_says_at_once_that_the_model_is_loading(fresh: tuple[Any, Path]) -> None:
    kc, _ = fresh
    reply, messages = execute(kc, '%invoke "The Eiffel Tower is in the city of" --max-new-tokens 2')
    assert reply["status"] == "ok", reply
    texts = [
        m["content"]["data"]["text/plain"]
        for m in messages
        if m["msg_type"] in {"display_data", "update_display_data"}
    ]
    assert texts[0].startswith("local · loading SmolLM2-135M-Instruct…"), texts[:2]
    assert texts[-1].startswith("local · SmolLM2-135M-Instruct · 2 tokens · ")
    assert value(kc, "type(model).__name__") == "'LanguageModel'"


def test_a_refused_connection_is_one_sentence_and_tb_shows_everything(
    fresh: tuple[Any, Path],
) -> None:
    kc, folder = fresh
    port = free_port()  # nothing listens there
    prompt = {
        "name": "dead",
        "model": {
            "api": "chat",
            "configuration": {
                "type": "serverless",
                "endpoint": f"http://127.0.0.1:{port}/v1",
                "key": "${env:DEAD_KEY}",
                "model": "m",
            },
        },
        "template": "user:\nHello",
    }
    (folder / "dead.prompty").write_text(yaml.safe_dump(prompt))
    assert execute(kc, "import os; os.environ['DEAD_KEY'] = 'sk-test-123'")[0]["status"] == "ok"
    reply, _ = execute(kc, "%invoke dead.prompty")
    assert reply["status"] == "error" and reply["ename"] == "InvokerConnectionError", reply
    lines = _lines(reply)
    assert len(lines) <= 6, lines  # today's main: 271 lines
    assert lines[0].startswith("InvokerConnectionError: ")
    assert f"Cell In[{reply['execution_count']}], line 1: %invoke dead.prompty" in lines[1]
    assert "sk-test-123" not in "\n".join(lines)
    # %tb shows the whole chain, down to the client's own error.
    reply, messages = execute(kc, "%tb")
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1
    full = _plain("\n".join(errors[0]["traceback"]))
    assert len(full.splitlines()) > 20 and "APIConnectionError" in full
    assert "sk-test-123" not in full


def test_a_syntax_error_in_a_body_shows_as_a_cells_own(fresh: tuple[Any, Path]) -> None:
    kc, _ = fresh
    reply, _ = execute(kc, '%%generate --max-new-tokens 1\nwith invoke("Hi"):\nx = 1\n')
    assert reply["status"] == "error" and reply["ename"] == "BodySyntaxError", reply
    lines = _lines(reply)
    assert len(lines) <= 8, lines  # today's main: 48 lines of IPython's frames
    text = "\n".join(lines)
    assert "IndentationError" in text and "x = 1" in text
    assert f"Cell In[{reply['execution_count']}], line 3" in text
    assert "interactiveshell.py" not in text and "jupyter_invoker" not in text
