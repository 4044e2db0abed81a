"""/selections/<path> and /connections: the shared store through the REST API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_invoker.invokers import select_connection, selected_invoker, selection
from jupyter_invoker.invokers._store import read_store, store_path

from .conftest import Api

CAPITAL = "notebooks/prompts/capital.prompty"
SERVE = {
    "name": "local-serve",
    "invoker": "serverless",
    "configuration": {"endpoint": "http://127.0.0.1:9/v1", "model": "m"},
    "key_env": "JI_TEST_SERVE_KEY",
}


async def test_selection_get_put_delete(api: Api, workspace: Path) -> None:
    assert await api("GET", "selections", CAPITAL) == (
        200,
        {"path": CAPITAL, "invoker": None, "connection": None},
    )
    status, body = await api("PUT", "selections", CAPITAL, body={"invoker": "openai"})
    assert status == 200 and body == {"path": CAPITAL, "invoker": "openai", "connection": None}
    # the kernel's side of the store sees it at once, by its absolute path
    assert selected_invoker(workspace / CAPITAL) == "openai"
    _, listed = await api("GET", "prompts")
    row = next(p for p in listed["prompts"] if p["path"] == CAPITAL)
    assert row["selected"] == {"invoker": "openai", "connection": None}
    assert row["runs_on"]["invoker"] == "openai" and "OPENAI_API_KEY" in row["needs"]
    assert (await api("DELETE", "selections", CAPITAL))[0] == 204
    assert selection(workspace / CAPITAL) is None


async def test_selection_put_validates(api: Api) -> None:
    status, body = await api("PUT", "selections", CAPITAL, body={"invoker": "nope"})
    assert status == 400 and "No invoker is registered under 'nope'" in body["message"]
    status, body = await api("PUT", "selections", CAPITAL, body={"connection": "ghost"})
    assert status == 400 and "no connection named 'ghost'" in body["message"]
    status, body = await api("PUT", "selections", CAPITAL, body={})
    assert status == 400 and "exactly one of" in body["message"]
    status, body = await api("PUT", "selections", CAPITAL, body="[1, 2")
    assert status == 400 and "not valid JSON" in body["message"]
    status, _ = await api("PUT", "selections", "nowhere.prompty", body={"invoker": "local"})
    assert status == 404
    assert not store_path().exists()  # nothing was written


async def test_connection_lifecycle(api: Api, workspace: Path) -> None:
    status, body = await api("POST", "connections", body=SERVE)
    assert status == 201
    assert body["configuration"]["key"] == "${env:JI_TEST_SERVE_KEY}"
    assert body["key_env"] == "JI_TEST_SERVE_KEY" and body["key_set"] is False
    assert body["needs"] == ["JI_TEST_SERVE_KEY"] and body["default"] is False
    assert (await api("POST", "connections", body=SERVE))[0] == 409

    status, body = await api("GET", "connections")
    assert [c["name"] for c in body["connections"]] == ["local-serve"]
    assert (await api("GET", "connections", "local-serve"))[1]["invoker"] == "serverless"

    # select it for a prompt, make it the serverless default, then rename it
    await api("PUT", "selections", CAPITAL, body={"connection": "local-serve"})
    edited = {**SERVE, "name": "serve2", "default": True}
    status, body = await api("PUT", "connections", "local-serve", body=edited)
    assert status == 200 and body["name"] == "serve2" and body["default"] is True
    assert (await api("GET", "connections", "local-serve"))[0] == 404
    assert (await api("GET", "selections", CAPITAL))[1]["connection"] == "serve2"
    _, body = await api("GET", "connections")
    assert body["defaults"] == {"serverless": "serve2"}
    _, rows = await api("GET", "invokers")
    serverless = next(r for r in rows["invokers"] if r["name"] == "serverless")
    assert serverless["default_connection"] == "serve2"

    # delete: the selection and the default naming it go too
    assert (await api("DELETE", "connections", "serve2"))[0] == 204
    assert (await api("DELETE", "connections", "serve2"))[0] == 404
    assert (await api("GET", "selections", CAPITAL))[1]["connection"] is None
    assert read_store()["defaults"] == {}


async def test_connection_put_of_unknown_is_404_and_bad_names_400(api: Api) -> None:
    assert (await api("PUT", "connections", "ghost", body=SERVE))[0] == 404
    status, body = await api("POST", "connections", body={**SERVE, "name": "bad name!"})
    assert status == 400 and "not valid" in body["message"]
    status, body = await api("POST", "connections", body={**SERVE, "invoker": "nope"})
    assert status == 400 and "No invoker is registered" in body["message"]
    status, body = await api("POST", "connections", body={**SERVE, "key_env": "not a var"})
    assert status == 400 and "environment variable" in body["message"]


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (("connections",), {**SERVE, "configuration": {"endpoint": "x", "key": "abc123"}}),
        (("connections",), {**SERVE, "configuration": {"api_key": "${env:X:sk-literal}"}}),
        (("connections",), {**SERVE, "configuration": {"model": "sk-FAKE-LEAK-CHECK-123456"}}),
        (("connections",), {**SERVE, "api_key": "sk-FAKE-LEAK-CHECK-123456"}),
        (("selections", CAPITAL), {"invoker": "openai", "configuration": {"api_key": "k-1"}}),
        (("connections", "x", "test"), {"token": "sk-FAKE-LEAK-CHECK-123456"}),
    ],
)
async def test_literal_keys_are_refused_in_any_request(
    api: Api, route: tuple[str, ...], body: dict[str, object]
) -> None:
    await api("POST", "connections", body={**SERVE, "name": "x"})
    before = store_path().read_text()
    method = "PUT" if route[0] == "selections" else "POST"
    status, answer = await api(method, *route, body=body)
    assert status == 400 and "${env:" in answer["message"]
    assert "sk-FAKE" not in json.dumps(answer) and "abc123" not in json.dumps(answer)
    assert store_path().read_text() == before


async def test_malformed_store_is_reported_and_not_overwritten(api: Api) -> None:
    path = store_path()
    path.parent.mkdir(parents=True)
    broken = '{\n  "version": 1,\n  "selections": {\n    "/x": "openai"\n  }\n}\n'
    path.write_text(broken)
    for method, parts, body in [
        ("GET", ("prompts",), None),
        ("GET", ("connections",), None),
        ("PUT", ("selections", CAPITAL), {"invoker": "local"}),
        ("POST", ("connections",), SERVE),
    ]:
        status, answer = await api(method, *parts, body=body)
        assert status == 400, (method, parts)
        assert f"{path}, line 4" in answer["message"] and "expected shape" in answer["message"]
    path.write_text("{not json")
    status, answer = await api("PUT", "selections", CAPITAL, body={"invoker": "local"})
    assert status == 400 and f"{path}, line 1" in answer["message"]
    assert path.read_text() == "{not json"


KERNEL_WRITER = """
import sys
from jupyter_invoker.invokers import select_invoker
root = sys.argv[1]
print("ready", flush=True)
sys.stdin.readline()  # "go": start writing while the server writes too
for i in range(10):
    select_invoker(f"{root}/kernel_{i}.prompty", "local")
"""


async def test_twenty_concurrent_writes_from_two_processes_lose_nothing(
    api: Api, workspace: Path, store_dir: Path
) -> None:
    for i in range(10):
        (workspace / f"server_{i}.prompty").write_text(f"---\nname: s{i}\n---\nhi\n")
    await api("POST", "connections", body=SERVE)
    kernel = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KERNEL_WRITER), str(workspace)],
        env={"JUPYTER_INVOKER_CONFIG_DIR": str(store_dir), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert kernel.stdin is not None and kernel.stdout is not None
    assert kernel.stdout.readline().strip() == "ready"
    kernel.stdin.write("go\n")
    kernel.stdin.flush()
    answers = await asyncio.gather(
        *[
            api("PUT", "selections", f"server_{i}.prompty", body={"connection": "local-serve"})
            for i in range(10)
        ]
    )
    assert kernel.wait(120) == 0
    assert [status for status, _ in answers] == [200] * 10
    selections = read_store()["selections"]
    assert len(selections) == 20
    assert sum(1 for s in selections.values() if s.get("connection") == "local-serve") == 10
    assert sum(1 for s in selections.values() if s.get("invoker") == "local") == 10
    assert read_store()["connections"]["local-serve"]["invoker"] == "serverless"


async def test_kernel_side_selection_of_a_connection_shows_in_the_listing(
    api: Api, workspace: Path
) -> None:
    await api("POST", "connections", body=SERVE)
    select_connection(workspace / CAPITAL, "local-serve")
    _, listed = await api("GET", "prompts")
    row = next(p for p in listed["prompts"] if p["path"] == CAPITAL)
    assert row["selected"] == {"invoker": None, "connection": "local-serve"}
    assert row["runs_on"] == {"invoker": "serverless", "connection": "local-serve"}


@pytest.mark.parametrize(
    ("method", "parts"),
    [
        ("POST", ("connections",)),
        ("PUT", ("connections", "local-serve")),
        ("POST", ("connections", "local-serve", "test")),
        ("PUT", ("selections", CAPITAL)),
    ],
)
async def test_bodies_are_bounded_in_size_and_depth(
    api: Api, method: str, parts: tuple[str, ...]
) -> None:
    await api("POST", "connections", body=SERVE)
    deep = "[" * 100_000 + "]" * 100_000  # 200 KB, under the size bound
    status, answer = await api(method, *parts, body=deep)
    assert status == 400 and "more than 32 deep" in answer["message"]
    nested: object = "x"
    for _ in range(40):
        nested = {"a": nested}
    body = json.dumps({**SERVE, "configuration": nested})
    status, answer = await api(method, *parts, body=body)
    assert status == 400 and "more than 32 deep" in answer["message"]
    # Brackets inside strings are text, not nesting.
    status, answer = await api(method, *parts, body=json.dumps({"name": "[" * 1000}))
    assert status in (200, 400) and "deep" not in json.dumps(answer)
    status, answer = await api(method, *parts, body=json.dumps({"pad": "x" * 300_000}))
    assert status == 413 and "at most 256 KiB" in answer["message"]
    assert (await api("GET", "connections", "local-serve"))[0] == 200
