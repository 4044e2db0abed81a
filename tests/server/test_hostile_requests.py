"""Hostile requests and a damaged store through the real server: strict JSON in and out,
no literal secret stored in any of its disguises, and every failure a JSON sentence."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from _shared import unwritable_folder
from tornado.httpclient import HTTPClientError

from jupyter_invoker.invokers._store import store_path

from .conftest import Api

CAPITAL = "notebooks/prompts/capital.prompty"
SERVE = {
    "name": "local-serve",
    "invoker": "serverless",
    "configuration": {"endpoint": "http://127.0.0.1:9/v1", "model": "m"},
}
PASSWORD = "PASS-w0rd-LEAK-42"
KEY = "a3f9c2e18b7d4f6a9e0c1b2d3e4f5a6b"  # shaped like an Azure key: no known prefix


async def _raw(jp_fetch: Any, method: str, *parts: str, body: str | None = None) -> tuple[int, Any]:
    try:
        response = await jp_fetch("jupyter-invoker", *parts, method=method, body=body)
    except HTTPClientError as exc:
        assert exc.response is not None
        response = exc.response

    def refuse(name: str) -> Any:
        raise AssertionError(f"the answer holds {name}, which is not JSON")

    text = response.body.decode() if response.body else ""
    return response.code, (json.loads(text, parse_constant=refuse) if text else None)


@pytest.mark.parametrize(
    ("method", "parts", "body"),
    [
        (
            "POST",
            ("connections",),
            '{"name": "c", "invoker": "serverless", "configuration": {"timeout": 1e999}}',
        ),
        (
            "POST",
            ("connections",),
            '{"name": "c", "invoker": "serverless", "configuration": {"timeout": Infinity}}',
        ),
        (
            "POST",
            ("connections",),
            '{"name": "c", "invoker": "openai", "configuration": {"t": -Infinity}}',
        ),
        (
            "PUT",
            ("selections", CAPITAL),
            '{"invoker": "local", "configuration": {"temperature": NaN}}',
        ),
    ],
    ids=["1e999", "Infinity", "-Infinity", "NaN"],
)
async def test_non_finite_numbers_are_refused_and_never_stored(
    jp_fetch: Any, workspace: Path, method: str, parts: tuple[str, ...], body: str
) -> None:
    status, answer = await _raw(jp_fetch, method, *parts, body=body)
    assert status == 400 and "not a finite number" in answer["message"], answer
    assert not store_path().exists()
    status, listed = await _raw(jp_fetch, "GET", "connections")  # still strict JSON
    assert status == 200 and listed["connections"] == []


@pytest.mark.parametrize(
    ("configuration", "extra"),
    [
        ({"base_url": f"http://user:{PASSWORD}@127.0.0.1:9/v1"}, {}),
        ({"default_headers": {"Authorization": f"Bearer {PASSWORD}"}}, {}),
        ({"default_headers": {"X-Custom": f"Bearer {PASSWORD}"}}, {}),
        ({"passphrase": PASSWORD}, {}),
        ({"credential": PASSWORD}, {}),
        ({"auth": PASSWORD}, {}),
        ({}, {"key_env": KEY}),
        ({"key": f"${{env:{KEY}}}"}, {}),
        ({"endpoint": f"${{env:NOPE:ghp_{PASSWORD.replace('-', '')}0123456789abc}}"}, {}),
        ({"model": f"${{env:NOPE:sk-{PASSWORD}-0123456789}}"}, {}),
        ({"endpoint": f"${{env:NOPE:http://u:{PASSWORD}@h/v1}}"}, {}),
    ],
    ids=[
        "url-password",
        "authorization",
        "bearer",
        "passphrase",
        "credential",
        "auth",
        "key-env",
        "env-name",
        "env-default",
        "env-default-sk",
        "env-default-url",
    ],
)
async def test_literal_secrets_in_disguise_are_refused_by_rest(
    api: Api, configuration: dict[str, Any], extra: dict[str, Any]
) -> None:
    body = {**SERVE, **extra, "configuration": {**SERVE["configuration"], **configuration}}
    status, answer = await api("POST", "connections", body=body)
    assert status == 400, answer
    text = json.dumps(answer)
    assert PASSWORD not in text and KEY not in text
    assert not store_path().exists()
    selection = {"invoker": "serverless", "configuration": body["configuration"]}
    if extra:  # key_env belongs to connections: a selection carries the reference itself
        selection["configuration"] = {**selection["configuration"], "key": f"${{env:{KEY}}}"}
    status, answer = await api("PUT", "selections", CAPITAL, body=selection)
    assert status == 400 and PASSWORD not in json.dumps(answer) and KEY not in json.dumps(answer)
    assert not store_path().exists()


async def test_a_url_password_in_a_file_is_masked_in_its_details(api: Api, workspace: Path) -> None:
    (workspace / "url.prompty").write_text(
        "---\nname: u\nmodel:\n  configuration:\n    type: openai\n    name: m\n"
        f"    base_url: http://user:{PASSWORD}@127.0.0.1:9/v1\n---\nhi\n"
    )
    status, body = await api("GET", "prompts", "url.prompty")
    assert status == 200 and PASSWORD not in json.dumps(body)
    assert body["configuration"]["base_url"] == "http://user:***@127.0.0.1:9/v1"
    _, listed = await api("GET", "prompts")
    assert PASSWORD not in json.dumps(listed)


def _write_store(raw: bytes) -> Path:
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (
            b'{"version": 1, "selections": {"\xff\xfe": {}}}',
            "is not UTF-8 text (byte 0xff on line 1)",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nests objects or lists too deeply"),
        (
            b'{"version": 1, "connections": {"c": {"invoker": "openai", "configuration": {"t": NaN}}}}',
            "NaN",
        ),
    ],
    ids=["not-utf8", "deep", "nan"],
)
async def test_a_damaged_store_is_a_json_sentence_on_every_route(
    api: Api, raw: bytes, words: str
) -> None:
    path = _write_store(raw)
    for method, parts, body in [
        ("GET", ("prompts",), None),
        ("GET", ("invokers",), None),
        ("GET", ("connections",), None),
        ("GET", ("selections", CAPITAL), None),
        ("PUT", ("selections", CAPITAL), {"invoker": "local"}),
        ("POST", ("connections",), SERVE),
    ]:
        status, answer = await api(method, *parts, body=body)
        assert status == 400, (method, parts, answer)
        assert str(path) in answer["message"] and words in answer["message"], answer
    assert path.read_bytes() == raw  # never replaced


async def test_a_store_that_is_a_fifo_is_refused_not_waited_on(api: Api) -> None:
    path = store_path()
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    status, answer = await api("GET", "connections", request_timeout=20)
    assert status == 400 and "FIFO" in answer["message"] and str(path) in answer["message"]


async def test_a_store_that_cannot_be_written_says_so(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = unwritable_folder(tmp_path)
    monkeypatch.setenv("JUPYTER_INVOKER_CONFIG_DIR", str(folder))
    status, answer = await api("POST", "connections", body=SERVE)
    assert status == 400 and "cannot be written" in answer["message"], answer
    assert str(folder / "selections.json") in answer["message"]
