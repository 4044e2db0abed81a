"""Browser tests: a real ``jupyter lab`` (or Notebook 7) on loopback, driven by
Debian's Chromium through Python Playwright (Playwright's own browser download is
skipped with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1; the distribution's Chromium is used).

    def test_something(lab_server, page, artifacts):
        server = lab_server(root)                     # a fresh server over `root`
        server.open(page, "lab/tree/notebook.ipynb")  # waits for the shell
        page.screenshot(path=artifacts / "something.png")
        status, body = server.api("GET", "jupyter-invoker/prompts")
        answer_no_kernel(page)                        # a notebook whose kernel is missing
        wait_until("the file saved", read, ok, page=page)  # no fixed sleeps: a deadline

Each server gets its own Jupyter config, runtime and selection-store folders, a random
token, and the announcements toast disabled; all are stopped at the end of the
session. Screenshots go to ``test-artifacts/ui/`` (``JUPYTER_INVOKER_ARTIFACTS`` moves
it). Without Chromium or Playwright these tests skip, except under ``CI=true``, where
a missing browser is a failure: the README's test command installs both.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _shared import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("JUPYTER_INVOKER_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling hosts this closed
# network refuses, which slows page loads (CI and sandboxes have no outside network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 90.0
SHELL_TIMEOUT_MS = 60_000

T = TypeVar("T")


def wait_until(
    what: str,
    read: Callable[[], T],
    ok: Callable[[T], object] = bool,
    *,
    page: Any = None,
    timeout_s: float = 60.0,
    every_s: float = 0.25,
) -> T:
    """``read()`` again until ``ok`` holds for what it gives; that value. Past the
    deadline, fails saying ``what`` never happened and what was read last. For checks
    Playwright cannot wait on itself (the server's API, a file, a figure read through
    Python); with ``page``, the pauses run the page (Playwright's sync API handles its
    events only while it is called)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} never happened in {timeout_s:g} s; last read: {value!r}")
        if page is None:
            time.sleep(every_s)
        else:
            page.wait_for_timeout(every_s * 1000)


def answer_no_kernel(page: Any) -> None:
    """A notebook whose kernel is missing asks for one (JupyterLab and Notebook 7 both,
    once the notebook has loaded): wait for that dialog, answer "No Kernel", and wait
    until it has gone (a dialog left up would catch the clicks meant for the page)."""
    page.locator(".jp-Dialog button", has_text="No Kernel").first.click(timeout=SHELL_TIMEOUT_MS)
    page.wait_for_selector(".jp-Dialog", state="detached", timeout=10_000)


# A plotly figure in an output area (plotly's renderer or this package's: either way the
# output element itself carries plotly's class).
PLOT = ".jp-OutputArea-output.js-plotly-plot"


def kernelless_copy(notebook: Path, folder: Path, name: str) -> Path:
    """A copy of ``notebook`` in ``folder`` whose kernel does not exist: nothing can run,
    and the copy was never signed by the server that opens it, so it is untrusted too."""
    nb = json.loads(notebook.read_text())
    nb["metadata"]["kernelspec"] = {"name": "no-such-kernel", "display_name": "none",
                                    "language": "python"}  # fmt: skip
    path = folder / name
    path.write_text(json.dumps(nb))
    return path


def scroll_to_first_figure(page: Any) -> Any:
    """Cells out of view are not rendered (windowed notebooks): scroll down until the
    first figure is drawn, waiting up to 300 ms for it after each step; the figure's
    locator, scrolled into view."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator(".jp-Notebook").first.bounding_box()
    drawn = page.locator(PLOT + " .main-svg").first
    for _ in range(60):
        if drawn.count():
            break
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + min(box["height"], 600) / 2)
        page.mouse.wheel(0, 400)
        try:
            drawn.wait_for(timeout=300)
        except PlaywrightTimeout:
            continue
    plot = page.locator(PLOT).first
    plot.locator(".main-svg").first.wait_for(timeout=60_000)
    plot.scroll_into_view_if_needed()
    return plot


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} The README's test command installs it; CI must have it.")
    pytest.skip(reason)


@dataclass
class LabServer:
    """One running ``jupyter lab``/``jupyter notebook`` process on loopback."""

    app: str
    root: Path
    port: int
    token: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def config_dir(self) -> Path:
        """The server's ``JUPYTER_INVOKER_CONFIG_DIR`` (the selection store)."""
        return Path(self.env["JUPYTER_INVOKER_CONFIG_DIR"])

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path.lstrip('/')}{sep}token={self.token}"

    def open(self, page: Any, path: str = "lab", *, ready: str | None = None) -> None:
        """Load ``path`` in ``page`` and wait until the application shell is up."""
        page.goto(self.url(path))
        selector = ready or ("#jp-main-dock-panel" if self.app == "lab" else "#main-panel")
        page.wait_for_selector(selector, timeout=SHELL_TIMEOUT_MS)

    def api(
        self, method: str, route: str, body: Any = None, *, auth: bool = True
    ) -> tuple[int, Any]:
        """Call a REST route (``auth=False``: no token). Returns (status, JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + route.lstrip("/"), data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        # `jupyter lab` runs `jupyter-lab` as a child: signal the whole process group
        # (its own session), or the server outlives the test run.
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _start(
    home: Path, root: Path, app: str, env_extra: dict[str, str], extra_args: list[str]
) -> LabServer:
    port, token = free_port(), secrets.token_hex(16)
    config = home / "jupyter-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    # The "get notified about official Jupyter news?" toast covers the sidebar.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_INVOKER_CONFIG_DIR": str(home / "invoker-config"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
        **env_extra,
    }
    # A data dir of our own must not hide the kernelspec and extensions of this venv.
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (env_extra.get("JUPYTER_PATH"), str(Path(sys.prefix) / "share" / "jupyter")) if p
    )
    log = home / f"{app}.log"
    cmd = [
        sys.executable, "-m", "jupyter", app,
        "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        *extra_args,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LabServer(app, root, port, token, home, process, log, env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"jupyter {app} exited with {process.returncode}:\n{server.log_tail()}"
            )
        try:
            if server.api("GET", "api/status")[0] == 200:
                return server
        except OSError:  # not listening yet (URLError is an OSError)
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(
        f"jupyter {app} did not answer in {START_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )


LabFactory = Callable[..., LabServer]


@pytest.fixture
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabFactory]:
    """Start servers on demand: ``lab_server(root, app="lab"|"notebook", env={}, args=[])``;
    each stops (with its kernels) when the test ends."""
    started: list[LabServer] = []

    def start(
        root: Path,
        *,
        app: str = "lab",
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> LabServer:
        home = tmp_path_factory.mktemp(f"{app}-home")
        server = _start(home, Path(root).resolve(), app, env or {}, args or [])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium per test module. Not per session: a running
    Playwright keeps an event loop running in this thread, which pytest-jupyter's
    server fixtures refuse, so `pytest tests/ui tests/server` failed every server test."""
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        _unavailable(f"Chromium was not found at {CHROMIUM} (Debian: apt-get install chromium).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python Playwright is not installed (pip install playwright).")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (1400×900) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots are kept after the run."""
    folder = Path(os.environ.get("JUPYTER_INVOKER_ARTIFACTS", REPO / "test-artifacts")) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
