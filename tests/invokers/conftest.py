"""Fixtures: an isolated selection store and registry, and a fake OpenAI server
(the real ``transformers serve`` fixture is in tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyter_invoker.invokers import InvokerFactory

from ._fake_server import FakeServer

FAKE_KEY = "sk-FAKE-LEAK-CHECK-123456"
SERVE_WAIT_S = 120.0

_ENV_TO_CLEAR = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "JUPYTER_INVOKER_TIMEOUT",
    "JUPYTER_INVOKER_CONNECT_TIMEOUT",
    "XDG_CONFIG_HOME",
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test: its own selection store, no real keys, and the registry restored."""
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_INVOKER_CONFIG_DIR", str(tmp_path / "config"))
    registry = dict(InvokerFactory._registry)
    aliases = dict(InvokerFactory._aliases)
    yield
    InvokerFactory._registry.clear()
    InvokerFactory._registry.update(registry)
    InvokerFactory._aliases.clear()
    InvokerFactory._aliases.update(aliases)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


PromptWriter = Callable[..., Path]


@pytest.fixture
def write_prompt(tmp_path: Path) -> PromptWriter:
    """Write a front-matter .prompty file and return its path."""
    counter = iter(range(1000))

    def write(
        configuration: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
        *,
        body: str = "user:\nWhat is the capital of {{country}}? Answer in one word.",
        api: str = "chat",
        sample: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Path:
        front = {
            "name": name or "capital",
            "model": {
                "api": api,
                "configuration": configuration or {},
                "parameters": parameters or {},
            },
            "sample": sample if sample is not None else {"country": "France"},
        }
        path = tmp_path / f"{name or 'prompt'}_{next(counter)}.prompty"
        path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}\n")
        return path

    return write


# `serve_url` and `default_model` (a real `transformers serve` on loopback) live in
# tests/conftest.py, shared with the server-extension tests.

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
