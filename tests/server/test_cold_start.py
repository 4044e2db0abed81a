"""A freshly started ``jupyter server`` answers the sidebar's first requests, sent all at
once, without an import race: the prompt and invoker layers load with the extension,
on the server's own thread, before any request's worker thread could import them.
(Two cold requests once met a half-initialised package; the fix was an import lock,
now the imports themselves.)"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _shared import free_port

from .conftest import AZURE, CAPITAL

pytestmark = pytest.mark.slow

ROUTES = [
    "prompts",
    "invokers",
    "connections",
    "prompts/prompts/capital.prompty",
    "prompts/prompts/weather.prompty",
    "selections/prompts/capital.prompty",
]


def _get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize("attempt", range(3))
def test_the_first_requests_all_at_once_answer(tmp_path: Path, attempt: int) -> None:
    root = tmp_path / "root"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "capital.prompty").write_text(CAPITAL)
    (root / "prompts" / "weather.prompty").write_text(AZURE)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_INVOKER_CONFIG_DIR": str(tmp_path / "store"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions={'jupyter_invoker': True}",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:  # up, but nothing of ours asked yet
            assert server.poll() is None, server.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            try:
                if _get(base + "api/status", token)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        with ThreadPoolExecutor(len(ROUTES) * 2) as pool:
            urls = [base + "jupyter-invoker/" + route for route in ROUTES * 2]
            answers = list(pool.map(lambda url: _get(url, token), urls))
        for url, (status, body) in zip(urls, answers, strict=True):
            assert status == 200, (url, body)
            json.loads(body)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
