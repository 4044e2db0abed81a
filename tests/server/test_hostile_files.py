"""A cloned workspace may be hostile: files that used to break, stall or leak through the
sidebar's routes, each now listed with its own error, bounded, and strict JSON.

Through a real ``jupyter server`` with the extension (pytest-jupyter, in-process)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from _hostile_set import LAUGHS, LOOPS
from tornado.httpclient import HTTPClientError

DEEP = "---\nname: deep\nx:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(500)) + "---\nhi\n"
HOSTILE = {
    "hostile/api-space.prompty": ("---\nname: a\nmodel:\n  api: gpt 4\n---\nhi\n", "model.api"),
    "hostile/type-space.prompty": (
        "---\nname: t\nmodel:\n  configuration:\n    type: my invoker\n---\nhi\n",
        "model.configuration.type",
    ),
    "hostile/deep.prompty": (DEEP, "more than 64 levels"),
    "hostile/flow.prompty": ("---\nname: f\nx: " + "[" * 20000 + "\n---\nhi\n", "64 levels"),
    "hostile/binary.prompty": (
        "---\nname: b\ninputs:\n  x:\n    default: !!binary aGVsbG8=\n---\n{{x}}\n",
        "!!binary",
    ),
    "hostile/set.prompty": (
        "---\nname: s\ninputs:\n  x:\n    default: !!set {a, b}\n---\n{{x}}\n",
        "!!set",
    ),
    "hostile/nan.prompty": (
        "---\nname: n\ninputs:\n  x:\n    default: .nan\n---\n{{x}}\n",
        "not a finite",
    ),
    "hostile/inf.prompty": ("---\nname: i\nsample:\n  x: .inf\n---\n{{x}}\n", "not a finite"),
    "hostile/laughs.prompty": (LAUGHS, "100,000 values"),
    "hostile/self.prompty": ("---\nname: r\nsample: &s\n  me: *s\n---\nhi\n", "refers to itself"),
}


def _strict(text: str) -> Any:
    """Parse as strict JSON: NaN / Infinity (Python's extension) fail the test."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"the answer holds {name}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


async def _get(jp_fetch: Any, *parts: str, timeout: float = 60) -> tuple[int, Any]:
    try:
        response = await jp_fetch("jupyter-invoker", *parts, request_timeout=timeout)
    except HTTPClientError as exc:
        assert exc.response is not None, exc
        response = exc.response
    return response.code, _strict(response.body.decode())


@pytest.fixture
def hostile(workspace: Path) -> Path:
    for rel, (text, _) in HOSTILE.items():
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.mkfifo(workspace / "hostile" / "fifo.prompty")  # a read would block forever
    with (workspace / "hostile" / "huge.prompty").open("wb") as handle:
        handle.write(b"---\nname: huge\n---\n")
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB that cost no disk
    (workspace / "hostile" / "loops.prompty").write_text(f"---\nname: l\n---\nuser:\n{LOOPS}\n")
    (workspace / "hostile" / "mul.prompty").write_text(
        "---\nname: m\n---\nuser:\n{{ 'a' * 200000000 }}\n"
    )
    return workspace


async def test_each_hostile_file_is_listed_with_its_own_error_in_strict_json(
    jp_fetch: Any, hostile: Path
) -> None:
    status, body = await _get(jp_fetch, "prompts")
    assert status == 200
    rows = {row["path"]: row for row in body["prompts"]}
    assert "hostile/fifo.prompty" not in rows  # not a regular file: skipped
    for rel, (_, words) in HOSTILE.items():
        assert rows[rel]["error"] is not None and words in rows[rel]["error"], rows[rel]
        assert rows[rel]["ready"] is False
    assert "1,048,576" in rows["hostile/huge.prompty"]["error"]  # refused before reading
    capital = rows["notebooks/prompts/capital.prompty"]
    assert capital["error"] is None and capital["ready"] is True  # the rest list as before


@pytest.mark.parametrize(
    ("rel", "words"),
    [*((rel, words) for rel, (_, words) in HOSTILE.items()), ("hostile/huge.prompty", "1,048,576")],
    ids=[*(rel.split("/")[1] for rel in HOSTILE), "huge.prompty"],
)
async def test_each_hostile_files_details_are_its_error_in_strict_json(
    jp_fetch: Any, hostile: Path, rel: str, words: str
) -> None:
    status, body = await _get(jp_fetch, "prompts", rel)
    assert status == 200 and words in body["error"], body["error"]
    assert body["preview"]["error"] == body["error"]


async def test_a_fifo_asked_for_directly_is_not_read(jp_fetch: Any, hostile: Path) -> None:
    status, body = await _get(jp_fetch, "prompts", "hostile/fifo.prompty", timeout=30)
    assert status == 404 and "hostile/fifo.prompty" in body["message"]


async def test_previews_are_bounded_and_the_server_keeps_answering(
    jp_fetch: Any, hostile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shorter limit keeps the test quick; the benchmark measures the real one (2 s).
    monkeypatch.setattr("jupyter_invoker.prompty._render.RENDER_SECONDS", 0.5)
    status, body = await _get(jp_fetch, "prompts", "hostile/mul.prompty")
    assert status == 200 and "would build 200,000,000 characters" in body["preview"]["error"]
    # More slow previews at once than the server has worker threads (it had 8 pinned
    # forever, after which every extension route timed out).
    workers = min(32, (os.cpu_count() or 1) + 4)
    previews = [_get(jp_fetch, "prompts", "hostile/loops.prompty") for _ in range(workers + 2)]
    for status, body in await asyncio.gather(*previews):
        assert (
            status == 200 and "took longer than 0.5 s and was stopped" in body["preview"]["error"]
        )
    # An ordinary listing afterwards answers (timeout: an upper sanity bound only).
    status, body = await _get(jp_fetch, "prompts", timeout=10)
    assert status == 200 and len(body["prompts"]) == 4 + len(HOSTILE) + 3


async def test_hidden_files_follow_the_servers_allow_hidden(
    jp_fetch: Any, workspace: Path, jp_serverapp: Any
) -> None:
    os.symlink(workspace / ".hidden" / "secret.prompty", workspace / "to-hidden.prompty")
    for path in (".hidden/secret.prompty", "to-hidden.prompty"):
        for route in ("prompts", "selections"):
            status, body = await _get(jp_fetch, route, path)
            assert status == 404 and "allow_hidden" in body["message"], (route, path, body)
    listed = [row["path"] for row in (await _get(jp_fetch, "prompts"))[1]["prompts"]]
    assert "to-hidden.prompty" not in listed and ".hidden/secret.prompty" not in listed
    jp_serverapp.contents_manager.allow_hidden = True
    status, body = await _get(jp_fetch, "prompts", ".hidden/secret.prompty")
    assert status == 200 and body["name"] == "capital"


async def test_a_path_too_long_for_the_file_system_is_an_answer_not_a_500(
    jp_fetch: Any, workspace: Path
) -> None:
    for path in ("a" * 300 + ".prompty", "/".join(["b" * 200] * 30) + "/x.prompty"):
        status, body = await _get(jp_fetch, "prompts", path)
        assert status == 404 and "no prompt file" in body["message"], body
        assert len(body["message"]) < 400  # the path is shortened, not echoed whole


async def test_a_malformed_url_as_a_key_is_masked_not_a_listing_error(
    jp_fetch: Any, workspace: Path
) -> None:
    key = "http://[x:pw-not-shown@h"  # urlsplit refuses it (an unclosed IPv6 bracket)
    (workspace / "odd-key.prompty").write_text(
        f"---\nname: odd\nmodel:\n  configuration:\n    type: openai\n    api_key: '{key}'\n"
        "---\nuser:\nhi\n"
    )
    status, body = await _get(jp_fetch, "prompts")
    row = next(row for row in body["prompts"] if row["path"] == "odd-key.prompty")
    assert status == 200 and "cannot be listed" not in str(row["error"]), row
    assert "pw-not-shown" not in json.dumps(body)
