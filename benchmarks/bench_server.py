"""Server-extension benchmarks: prompt discovery and the extension's start-up cost.

    python benchmarks/bench_server.py             # both; writes benchmarks/results/server.json
    python benchmarks/bench_server.py --only discovery
    python benchmarks/bench_server.py --only hostile

(a) ``discovery``: ``GET /jupyter-invoker/prompts``'s work (walk, load every prompt,
    status per prompt, one store read) over a generated workspace of 10,000 files,
    200 of them ``.prompty`` in 40 folders, the rest text/notebook files plus a
    ``node_modules`` and a ``.git`` folder that must be skipped. Cold = the
    in-process prompt cache cleared before each run (every file parsed); warm = the
    sidebar's refresh (unchanged files come from the cache). Median of 5; target
    cold <= 0.5 s.
(c) ``hostile``: the same workspace with 20 hostile files among the prompts (each of
    issue 14's kinds: YAML nested 500 deep and 20,000 deep, aliases expanding to a
    billion values, !!binary, !!set, .nan, .inf, a FIFO, a 50 MB file, a space in the
    invoker's name, template loops of 10^10 steps, `'a' * 200000000`, a doubling
    concatenation, `**`, `replace` and width amplifications, a deep ${file:} JSON).
    Cold listing, median of 5 (target <= 0.5 s); then against a real ``jupyter
    server`` process: every hostile file's preview, each timed (the slowest: target
    <= 3 s, result or limit error), hostile requests (non-finite numbers, secrets in
    disguise), three rounds; the server's RSS before and after (target: grows
    < 100 MB) and an ordinary listing's time at the end.
(b) ``startup``: what the extension adds to a server's start: in a fresh interpreter
    that already imported jupyter_server, ``import jupyter_invoker``, the extension
    points, the import of ``jupyter_invoker.server`` and the handler registration;
    median of 5 (target <= 0.3 s). For context, whole ``jupyter server`` starts (spawn
    until ``GET /api/status`` answers) with the extension enabled vs disabled,
    alternating, 4 pairs, wall time and the server process's CPU time until ready;
    on a loaded 2-core machine the wall times' spread (seconds) dwarfs the
    difference, so they are recorded (``whole_server_*``) but not the headline.

``--only`` re-measures one part and keeps the other's last result in the file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from _hostile_set import HOSTILE_REQUESTS, add_hostile

RESULTS = Path(__file__).resolve().parent / "results" / "server.json"
PROMPT = """---
name: p{i}
description: Benchmark prompt {i}.
model:
  api: chat
  configuration:
    type: serverless
    endpoint: http://127.0.0.1:8000/v1
    model: m
    key: ${{env:BENCH_KEY}}
  parameters:
    max_tokens: 8
inputs:
  country:
    type: string
    default: France
sample:
  country: Peru
---
system:
You are a concise geography assistant ({i}).

user:
What is the capital of {{{{country}}}}? Answer in one word.
"""


def make_workspace(root: Path, files: int = 10_000, prompts: int = 200) -> dict[str, int]:
    """Write the workspace described in the module docstring; returns the counts."""
    skipped = 0
    for i in range(500):  # skipped folders: never walked
        folder = root / ("node_modules" if i < 400 else ".git") / f"pkg{i % 40}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.prompty").write_text(PROMPT.format(i=i))
        skipped += 1
    for i in range(prompts):
        folder = root / f"project{i % 40}" / "prompts"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"prompt{i}.prompty").write_text(PROMPT.format(i=i))
    for i in range(files - prompts - skipped):
        folder = root / f"project{i % 40}" / f"data{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".ipynb" if i % 10 == 0 else ".txt"
        (folder / f"file{i}{suffix}").write_text("x\n")
    count = sum(1 for _ in root.rglob("*") if _.is_file())
    return {"files": count, "prompty": prompts, "skipped_prompty": skipped}


def bench_discovery() -> dict[str, Any]:
    from jupyter_invoker.server import _listing
    from jupyter_invoker.server._handlers import _list_prompts

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_INVOKER_CONFIG_DIR"] = str(Path(tmp) / "store")
        root = Path(tmp) / "ws"
        counts = make_workspace(root)
        root = root.resolve()
        _list_prompts(root)  # imports, first store read
        cold, warm = [], []
        for _ in range(5):
            _listing._cache.clear()
            start = time.perf_counter()
            listed = _list_prompts(root)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            _list_prompts(root)
            warm.append(time.perf_counter() - start)
        assert len(listed["prompts"]) == counts["prompty"], len(listed["prompts"])
        assert all(p["error"] is None for p in listed["prompts"])
    return {
        "name": "prompt discovery, 10,000 files / 200 .prompty (cold: every file parsed)",
        "value_s": round(statistics.median(cold), 4),
        "target_s": 0.5,
        "runs_s": [round(v, 4) for v in cold],
        "warm_s": round(statistics.median(warm), 4),
        **counts,
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _call(base: str, token: str, method: str, route: str, body: str | None = None) -> int:
    request = urllib.request.Request(
        f"{base}jupyter-invoker/{route}",
        data=None if body is None else body.encode(),
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def bench_hostile() -> dict[str, Any]:
    from jupyter_invoker.server import _listing
    from jupyter_invoker.server._handlers import _list_prompts

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_INVOKER_CONFIG_DIR"] = str(Path(tmp) / "store")
        root = Path(tmp) / "ws"
        counts = make_workspace(root)
        hostile = add_hostile(root)
        root = root.resolve()
        _list_prompts(root)
        cold = []
        for _ in range(5):
            _listing._cache.clear()
            start = time.perf_counter()
            listed = _list_prompts(root)
            cold.append(time.perf_counter() - start)
        rows = {row["path"]: row for row in listed["prompts"]}
        assert len(rows) == counts["prompty"] + len(hostile) - 1, len(rows)  # no FIFO
        # 13 refused at load (listed with their error); 6 load but fail their preview.
        assert sum(bool(rows[path]["error"]) for path in hostile if path in rows) == 13
        served = _serve_hostile(root, Path(tmp), hostile)
    return {
        "name": "10,000 files / 200 .prompty + 20 hostile: cold listing; previews; server RSS",
        "value_s": round(statistics.median(cold), 4),
        "target_s": 0.5,
        "runs_s": [round(v, 4) for v in cold],
        **served,
    }


def _serve_hostile(root: Path, home: Path, hostile: list[str]) -> dict[str, Any]:
    port, token = _free_port(), "bench-token"
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
        f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'jupyter_invoker': True}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "rt"),
    }
    base = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter server exited with {proc.returncode}") from None
                time.sleep(0.05)
        assert _call(base, token, "GET", "prompts") == 200
        rss_before = _rss_mb(proc.pid)
        previews: dict[str, float] = {}
        for _ in range(3):
            for path in hostile:
                start = time.perf_counter()
                status = _call(base, token, "GET", f"prompts/{path}")
                took = time.perf_counter() - start
                assert status in (200, 404), (path, status)
                previews[path] = max(previews.get(path, 0.0), took)
            for method, route, body in HOSTILE_REQUESTS:
                assert _call(base, token, method, route, body) == 400, route
            assert _call(base, token, "GET", "prompts") == 200
        rss_after = _rss_mb(proc.pid)
        start = time.perf_counter()
        assert _call(base, token, "GET", "prompts") == 200
        listing_after = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(20)
    slowest = max(previews, key=lambda path: previews[path])
    return {
        "slowest_preview_s": round(previews[slowest], 3),
        "slowest_preview": slowest,
        "preview_target_s": 3.0,
        "previews_s": {path.rsplit("/", 1)[1]: round(v, 3) for path, v in previews.items()},
        "server_rss_before_mb": round(rss_before, 1),
        "server_rss_after_mb": round(rss_after, 1),
        "server_rss_growth_mb": round(rss_after - rss_before, 1),
        "rss_growth_target_mb": 100,
        "listing_after_s": round(listing_after, 3),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_once(enabled: bool, home: Path) -> tuple[float, float]:
    port, token = _free_port(), "bench-token"
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    command = [
        jupyter,
        "server",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home}",
        f"--ServerApp.jpserver_extensions={{'jupyter_invoker': {enabled}}}",
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "rt"),
    }
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start, _cpu_s(proc.pid)
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter server exited with {proc.returncode}") from None
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(20)


_LOAD = """
import time, types, logging
import jupyter_server.serverapp, tornado.web
from traitlets.config import Config
app = types.SimpleNamespace(
    web_app=tornado.web.Application(base_url="/"), root_dir=".", log=logging.getLogger("x"),
    config=Config())
start = time.perf_counter()
import jupyter_invoker
point = jupyter_invoker._jupyter_server_extension_points()[0]["module"]
import importlib
importlib.import_module(point)._load_jupyter_server_extension(app)
print(time.perf_counter() - start)
"""


def bench_startup() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "config").mkdir()
        _start_once(True, home)  # warm the file-system cache
        pairs, cpu_pairs = [], []
        for i in range(4):
            order = (True, False) if i % 2 == 0 else (False, True)
            times = {enabled: _start_once(enabled, home) for enabled in order}
            pairs.append((times[True][0], times[False][0]))
            cpu_pairs.append((times[True][1], times[False][1]))
    loads = [
        float(
            subprocess.run(
                [sys.executable, "-c", _LOAD], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return {
        "name": "server start-up added by the extension (import + registration)",
        "value_s": round(statistics.median(loads), 4),
        "target_s": 0.3,
        "runs_s": [round(v, 4) for v in loads],
        "whole_server_median_difference_s": round(statistics.median(w - wo for w, wo in pairs), 4),
        "whole_server_with_s": round(statistics.median(w for w, _ in pairs), 4),
        "whole_server_without_s": round(statistics.median(wo for _, wo in pairs), 4),
        "whole_server_pairs_s": [[round(w, 4), round(wo, 4)] for w, wo in pairs],
        # CPU seconds the server process used until ready: far less sensitive to the
        # machine's load than wall time.
        "whole_server_cpu_median_difference_s": round(
            statistics.median(w - wo for w, wo in cpu_pairs), 4
        ),
        "whole_server_cpu_pairs_s": [[round(w, 3), round(wo, 3)] for w, wo in cpu_pairs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["discovery", "hostile", "startup"])
    args = parser.parse_args()
    kept: dict[str, Any] = {}
    if args.only and RESULTS.exists():
        kept = {m["part"]: m for m in json.loads(RESULTS.read_text())["measurements"]}
    if args.only in (None, "discovery"):
        kept["discovery"] = {"part": "discovery", **bench_discovery()}
    if args.only in (None, "hostile"):
        kept["hostile"] = {"part": "hostile", **bench_hostile()}
    if args.only in (None, "startup"):
        kept["startup"] = {"part": "startup", **bench_startup()}
    parts = ("discovery", "hostile", "startup")
    measurements = [kept[part] for part in parts if part in kept]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load_average": os.getloadavg()[0],
        "measurements": measurements,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
