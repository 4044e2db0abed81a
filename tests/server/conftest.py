"""A jupyter_server with the extension enabled, in-process (pytest-jupyter), over a
workspace of prompts; every test gets its own store and root.

    async def test_x(api: Api) -> None:
        status, body = await api("GET", "prompts")
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 - the jp_* fixtures and hooks
from tornado.httpclient import HTTPClientError, HTTPResponse

CAPITAL = """---
name: capital
description: Ask for a country's capital, in one word.
model:
  api: chat
  parameters:
    max_tokens: 8
inputs:
  country:
    type: string
    default: France
---
system:
You are a concise geography assistant.

user:
What is the capital of {{country}}? Answer in one word.
"""

AZURE = """---
name: weather
model:
  api: chat
  configuration:
    type: azure_openai
    azure_endpoint: https://example.openai.azure.com
    azure_deployment: gpt-4o-mini
    api_key: ${env:JI_TEST_AZURE_KEY}
sample:
  city: Paris
---
user:
Weather in {{city}}?
"""

LITERAL = """---
name: literal
model:
  api: chat
  configuration:
    type: openai
    name: gpt-4o-mini
    api_key: sk-FAKE-LEAK-CHECK-123456
---
user:
hi
"""

BROKEN = "---\nname: broken\nmodel:\n  api: [chat\n---\nhi\n"

Api = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_invoker": True}}}


@pytest.fixture(autouse=True)
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "store"
    monkeypatch.setenv("JUPYTER_INVOKER_CONFIG_DIR", str(folder))
    monkeypatch.setenv("JUPYTER_INVOKER_RECORD_REGISTRATIONS", "0")
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def workspace(jp_root_dir: Path) -> Path:
    """The server root: prompts in folders, plus places discovery must skip."""
    root = Path(jp_root_dir)
    files = {
        "notebooks/prompts/capital.prompty": CAPITAL,
        "notebooks/prompts/weather.prompty": AZURE,
        "literal.prompty": LITERAL,
        "broken/broken.prompty": BROKEN,
        ".hidden/secret.prompty": CAPITAL,
        "node_modules/pkg/x.prompty": CAPITAL,
        "venv/lib/x.prompty": CAPITAL,
        "venv/pyvenv.cfg": "home = /usr\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def api(jp_fetch: Any, workspace: Path) -> Api:
    """``await api(method, *path, body=None)`` -> (status, parsed JSON or None); no raise."""

    async def call(method: str, *parts: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        if body is None and method in ("POST", "PUT"):
            body = "{}"
        try:
            response: HTTPResponse = await jp_fetch(
                "jupyter-invoker", *parts, method=method, body=body, **kw
            )
        except HTTPClientError as exc:
            assert exc.response is not None
            response = exc.response
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text else None)

    return call
