"""Fixtures shared by every test folder: the real default model (``model``, loaded once
per session), a tiny random GPT-2 on its tokenizer (``tiny_gpt2``) and a real
``transformers serve`` on loopback.

def test_x(serve_url: str, default_model: str) -> None:
    # serve_url = "http://127.0.0.1:<port>/v1", an OpenAI-compatible server of the
    # embedded default model, started once per session and stopped at the end
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _shared import free_port

SERVE_WAIT_S = 120.0

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def model() -> Any:
    """The embedded default model, SmolLM2-135M-Instruct (the tracing and widget tests)."""
    import torch

    from jupyter_invoker import LanguageModel

    torch.manual_seed(0)
    return LanguageModel()


@pytest.fixture(scope="session")
def tiny_gpt2(model: Any) -> Any:
    """A 2-layer random GPT-2 on the default model's tokenizer (another architecture:
    ``transformer.h``, ``attn.c_proj``), for the tracing and patching tests."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from jupyter_invoker import LanguageModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(model.tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
        pad_token_id=model.tokenizer.pad_token_id,
    )  # fmt: skip
    return LanguageModel(GPT2LMHeadModel(config), tokenizer=model.tokenizer)


@pytest.fixture
def dead_url() -> str:
    """An OpenAI-style base URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/v1"


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
    port = free_port()
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
