"""Fixtures: an isolated selection store and registry, a fake OpenAI server, and
a real ``transformers serve`` of the default model on loopback (session-scoped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyter_invoker.invokers import InvokerFactory

from ._fake_server import FakeServer, closed_port

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


@pytest.fixture
def dead_url() -> str:
    return f"http://127.0.0.1:{closed_port()}/v1"


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


# -- transformers serve ----------------------------------------------------------------


def _post_json(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return dict(json.loads(response.read()))


def start_transformers_serve(model: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``transformers serve`` on a free loopback port; wait until it answers a chat."""
    port = closed_port()
    cli = Path(sys.executable).with_name("transformers")
    command = [str(cli), "serve", model, "--device", "cpu", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    probe = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    deadline = time.monotonic() + SERVE_WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            _post_json(f"{base}/chat/completions", probe, timeout=30)
            return proc, base
        except (OSError, urllib.error.URLError, ValueError):
            time.sleep(0.5)
    proc.terminate()
    proc.wait(10)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(
        f"`{' '.join(command)}` did not answer POST {base}/chat/completions within "
        f"{SERVE_WAIT_S:g} s (exit code {proc.returncode}). Its log:\n{tail}"
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="session")
def default_model() -> str:
    from jupyter_invoker.models import default_model_path

    return str(default_model_path())


@pytest.fixture(scope="session")
def serve_url(default_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of a real ``transformers serve``."""
    log_path = tmp_path_factory.mktemp("serve") / "transformers-serve.log"
    proc, base = start_transformers_serve(default_model, log_path)
    try:
        yield base
    finally:
        stop_process(proc)


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
