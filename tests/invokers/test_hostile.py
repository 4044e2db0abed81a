"""The kernel's side of a hostile workspace: the store's failures are the package's own
errors naming the file; no literal secret is stored in any disguise; an endpoint that
echoes the key never gets it shown; a killed writer leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock
import pytest
from _shared import unwritable_folder

from jupyter_invoker.exceptions import InvokerConfigError
from jupyter_invoker.invokers import (
    execute,
    list_connections,
    save_connection,
    select_invoker,
    selections_path,
)
from jupyter_invoker.invokers._store import read_store
from jupyter_invoker.prompty import load

from ._bounded import returns_within
from ._fake_server import FakeServer, Reply, chat_body
from .conftest import FAKE_KEY, PromptWriter

PASSWORD = "PASS-w0rd-LEAK-42"
KEY = "a3f9c2e18b7d4f6a9e0c1b2d3e4f5a6b"  # shaped like an Azure key: no known prefix
SHAPES: list[dict[str, Any]] = [
    {"base_url": f"http://user:{PASSWORD}@127.0.0.1:9/v1"},
    {"default_headers": {"Authorization": f"Bearer {PASSWORD}"}},
    {"default_headers": {"X-Custom": f"Basic {PASSWORD}"}},
    {"passphrase": PASSWORD},
    {"credential": PASSWORD},
    {"auth": PASSWORD},
    {"api_key": f"${{env:{KEY}}}"},
    {"base_url": f"${{env:NOPE:sk-proj-{PASSWORD}-0123456789}}"},
    {"base_url": f"${{env:NOPE:http://u:{PASSWORD}@h/v1}}"},
    {"timeout": float("inf")},
    {"temperature": float("nan")},
]


@pytest.mark.parametrize("shape", SHAPES, ids=[f"shape{i}" for i in range(len(SHAPES))])
def test_no_literal_secret_or_non_finite_number_reaches_the_store(shape: dict[str, Any]) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: save_connection("c", "openai", {"name": "m", **shape}),
        lambda: select_invoker("x.prompty", "openai", configuration=shape),
    ]
    for call in calls:
        with pytest.raises(InvokerConfigError) as info:
            call()
        assert PASSWORD not in str(info.value) and KEY not in str(info.value)
    assert not selections_path().exists()


def test_a_url_password_in_a_file_is_a_secret_in_every_repr(write_prompt: PromptWriter) -> None:
    url = f"http://user:{PASSWORD}@127.0.0.1:9/v1"
    prompt = load(write_prompt({"type": "openai", "name": "m", "base_url": url}))
    for text in (repr(prompt), repr(prompt.model), str(prompt.model.configuration)):
        assert PASSWORD not in text, text


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"selections": {"\xff": {}}}', "is not UTF-8 text (byte 0xff on line 1)"),
        (b"[" * 100_000 + b"]" * 100_000, "nests objects or lists too deeply"),
        (b'{"defaults": {"openai": Infinity}}', "Infinity"),
        (b'{"defaults": {}, "timeout": 1e999}', "1e999, which is not a number JSON allows"),
    ],
    ids=["not-utf8", "deep", "infinity", "too-large-a-number"],
)
def test_a_damaged_store_is_an_invoker_config_error_naming_it(raw: bytes, words: str) -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    for call in (read_store, list_connections, lambda: save_connection("c", "openai", {})):
        with pytest.raises(InvokerConfigError) as info:
            call()
        assert str(path) in str(info.value) and words in str(info.value)
    assert path.read_bytes() == raw


def test_a_store_that_is_a_fifo_is_refused_at_once() -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(InvokerConfigError, match="FIFO"):
        # A hang guard: opening a FIFO to read it used to wait forever for a writer.
        returns_within(30, list_connections, "reading a store that is a FIFO")


def test_a_store_that_cannot_be_written_is_an_invoker_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = unwritable_folder(tmp_path)
    monkeypatch.setenv("JUPYTER_INVOKER_CONFIG_DIR", str(folder))
    with pytest.raises(InvokerConfigError, match="cannot be written") as info:
        save_connection("c", "openai", {"name": "m"})
    assert str(folder / "selections.json") in str(info.value)


SLOW_WRITER = """
import os, sys, time
from jupyter_invoker.invokers import save_connection
real_fsync = os.fsync
def stall(fd):  # the temporary file is written; stop here, holding the lock
    print("writing", flush=True)
    time.sleep(600)
os.fsync = stall
save_connection("big", "openai", {"name": "m", "notes": ["x" * 1000] * 2000})
"""


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write() -> None:
    folder = selections_path().parent
    for _ in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(SLOW_WRITER)],
            stdout=subprocess.PIPE,
            env=os.environ.copy(),
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"writing"
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    # Each writer removes those before it (under the lock); the last one's is still there.
    orphans = [p for p in folder.iterdir() if p.name.startswith(".selections-")]
    assert orphans and all(p.stat().st_size > 1_000_000 for p in orphans)
    save_connection("next", "openai", {"name": "m"})
    assert [p.name for p in folder.iterdir() if p.name.startswith(".selections-")] == []
    assert [c["name"] for c in list_connections()] == ["next"]


# A writer that says each time filelock finds the lock taken and waits to try again.
WAITING_WRITER = """
import logging
from jupyter_invoker.invokers import save_connection
class Say(logging.Handler):
    def emit(self, record):
        print(record.getMessage(), flush=True)
logging.getLogger("filelock").addHandler(Say())
logging.getLogger("filelock").setLevel(logging.DEBUG)
save_connection("w", "openai", {})
"""


def _wait_until_refused(writer: subprocess.Popen[str], lock: str, times: int) -> list[str]:
    """Until filelock has refused ``writer`` the ``lock`` ``times`` times, or it ended; its
    lines so far. (They are read to the end: the writer never blocks on a full pipe.)"""
    lines: list[str] = []
    refusals = 0
    decided = threading.Event()

    def read() -> None:
        nonlocal refusals
        assert writer.stdout is not None
        for line in writer.stdout:
            lines.append(line.strip())
            refusals += "not acquired" in line and lock in line
            if refusals >= times:
                decided.set()
        decided.set()  # it ended

    threading.Thread(target=read, daemon=True).start()
    if not decided.wait(60):
        raise AssertionError(f"the writer was neither refused {times} times nor ended: {lines}")
    assert refusals >= times, f"the writer ended without waiting for the lock: {lines}"
    return lines


def test_the_store_lock_is_a_filelock_every_writer_waits_for() -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    with filelock.FileLock(str(path) + ".lock"):
        writer = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WAITING_WRITER)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        # Twice refused the lock we hold, and nothing written: it waits for the lock.
        lines = _wait_until_refused(writer, str(path) + ".lock", times=2)
        assert writer.poll() is None and not path.exists(), lines
    assert writer.wait(60) == 0
    assert [c["name"] for c in list_connections()] == ["w"]


ECHO = f"your key is Bearer {FAKE_KEY}, keep it safe"


def test_an_answer_echoing_the_key_is_masked_in_text_chunks_and_repr(
    fake_server: FakeServer, write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JI_ECHO_KEY", FAKE_KEY)
    url = fake_server.url + "/v1"
    path = write_prompt(
        {"type": "openai", "base_url": url, "name": "m", "api_key": "${env:JI_ECHO_KEY}"}
    )
    fake_server.script(Reply(body=chat_body(ECHO)))
    result = execute(path)
    assert result.text == "your key is Bearer ***, keep it safe"
    assert FAKE_KEY not in repr(result) and FAKE_KEY not in repr(result.raw)
    # Streamed: the key split across chunks never shows, not even in part.
    cut = ECHO.index(FAKE_KEY) + 6
    fake_server.script(Reply(stream=[ECHO[:cut], ECHO[cut : cut + 5], ECHO[cut + 5 :]]))
    chunks: list[str] = []
    result = execute(path, on_chunk=chunks.append)
    assert "".join(chunks) == result.text == "your key is Bearer ***, keep it safe"
    assert not any(FAKE_KEY[:4] in chunk for chunk in chunks), chunks


@pytest.mark.parametrize(
    "value", [object(), [object()], [[1, {1, 2}]]], ids=["value", "item", "nested"]
)
def test_a_value_json_cannot_hold_is_refused_wherever_it_sits(value: Any) -> None:
    with pytest.raises(InvokerConfigError, match=r"`tags` of type (object|set); only JSON values"):
        save_connection("c", "openai", {"name": "m", "tags": value})
    assert not selections_path().exists()
