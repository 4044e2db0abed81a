"""Streaming, the cell's value and interrupts, through a real Jupyter kernel."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _shared import KERNEL_TIMEOUT as TIMEOUT
from _shared import execute, running_kernel, value

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    setup = (
        "%load_ext jupyter_invoker\nfrom jupyter_invoker import LanguageModel\n"
        "model = LanguageModel()\nmodel.hf_model.generation_config.min_new_tokens = 32\n"
    )
    with running_kernel(tmp_path_factory.mktemp("kernel"), setup) as (km, kc):
        yield km, kc


def test_text_streams_into_one_display_and_the_value_is_out(kernel: tuple[Any, Any]) -> None:
    _, kc = kernel
    reply, messages = execute(kc, '%invoke "Once upon a time, a dragon" --max-new-tokens 32')
    assert reply["status"] == "ok", reply
    kinds = [m["msg_type"] for m in messages]
    assert "execute_result" not in kinds  # the value is shown once: by the live display
    assert "stream" not in kinds  # no print: display updates only
    displays = [m for m in messages if m["msg_type"] in {"display_data", "update_display_data"}]
    first_id = displays[0]["content"]["transient"]["display_id"]
    live = [m for m in displays if m["content"]["transient"]["display_id"] == first_id]
    assert live[0]["msg_type"] == "display_data"
    final = live[-1]["content"]["data"]["text/plain"]
    header, _, text = final.partition("\n")
    assert header.startswith("local · SmolLM2-135M-Instruct · 32 tokens · ")
    partial = [
        m["content"]["data"]["text/plain"].partition("\n")[2]
        for m in live[1:]
        if "running…" in m["content"]["data"]["text/plain"].partition("\n")[0]
    ]
    partial = [p for p in partial if p and p != text and text.startswith(p)]
    assert len(partial) >= 2  # text arrived while the 32-token generation was running
    stored = f"type(_).__name__ == 'ExecutionResult', _ is Out[max(Out)], _.text == {text!r}"
    assert value(kc, stored) == "(True, True, True)"


def test_interrupt_stops_generation_within_one_step(kernel: tuple[Any, Any]) -> None:
    km, kc = kernel
    setup = (
        "import time\nsteps = []\n"
        "counter = model.hf_model.register_forward_hook(lambda *a: steps.append(time.perf_counter()))\n"
        "model.hf_model.generation_config.min_new_tokens = 400\n"
    )
    assert execute(kc, setup)[0]["status"] == "ok"
    msg_id = kc.execute('%invoke "Tell me a long story" --max-new-tokens 400')
    updates = 0
    while updates < 3:  # generation is under way
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "update_display_data"
        ):
            updates += 1
    interrupted_at = time.perf_counter()  # CLOCK_MONOTONIC: the kernel's clock too
    km.interrupt_kernel()
    reply, _ = execute(kc, "", msg_id=msg_id)
    # A KeyboardInterrupt, told in one sentence and the cell's line, not ~300 lines of
    # frames ending in torch's internals.
    assert reply["status"] == "error" and reply["ename"] == "RunInterrupted"
    assert len("\n".join(reply["traceback"]).splitlines()) <= 6, reply["traceback"]
    assert "torch" not in "\n".join(reply["traceback"])
    assert f"Cell In[{reply['execution_count']}], line 1" in "\n".join(reply["traceback"])
    after = value(kc, f"len([t for t in steps if t > {interrupted_at!r}])")
    assert int(after) <= 1
    cleanup = "counter.remove()\nmodel.hf_model.generation_config.min_new_tokens = None\n"
    assert execute(kc, cleanup)[0]["status"] == "ok"
    hooks = (
        "[n for n, m in model.hf_model.named_modules() if m._forward_hooks or m._forward_pre_hooks]"
    )
    assert value(kc, hooks) == "[]"
    reply, _ = execute(
        kc, 'again = %invoke "The Eiffel Tower is in the city of" --max-new-tokens 2'
    )
    assert reply["status"] == "ok", reply
    assert value(kc, "again.usage['completion_tokens'], model._active_generator") == "(2, None)"


def test_body_error_shows_the_cell_line_and_usage_error_has_no_traceback(
    kernel: tuple[Any, Any],
) -> None:
    _, kc = kernel
    reply, messages = execute(kc, '%%invoke "Hi" --max-new-tokens 1\nx = 1\nundefined_name\n')
    assert reply["status"] == "error" and reply["ename"] == "NameError"
    trace = "\n".join(reply["traceback"])
    assert "undefined_name" in trace and "line 3" in trace
    # The body's frames carry the cell's own number (IPython counts up before running).
    assert f"Cell In[{reply['execution_count']}], line 3" in _plain(trace)
    assert f"Cell In[{reply['execution_count'] + 1}]" not in _plain(trace)
    reply, messages = execute(kc, "%invoke --bad")
    errors = [m for m in messages if m["msg_type"] == "error"]
    stderr = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert errors == [] and "UsageError: usage: %invoke TARGET" in stderr
    assert "Traceback" not in stderr


def _plain(text: str) -> str:
    """Text without its ANSI colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_the_line_reaches_the_magic_unexpanded(kernel: tuple[Any, Any]) -> None:
    _, kc = kernel
    assert execute(kc, "c = 'United States'\nx = 5\n")[0]["status"] == "ok"
    reply, _ = execute(kc, '%invoke "Price is $5 for {x} in $c" --max-new-tokens 1 --out r2')
    assert reply["status"] == "ok", reply
    assert value(kc, "'Price is $5 for {x} in $c' in str(r2.prepared)") == "True"
