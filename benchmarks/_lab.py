"""A JupyterLab on loopback, driven by Debian's Chromium: the browser part of
``bench_browser.py``.

    with lab(root) as server, chromium() as browser:
        page = server.notebook(browser, "case.ipynb")   # opened, every cell run
        ms = change_ms(page, lambda: select(page, "view", "residual_norm"),
                       lambda fig: fig["title"].startswith("Residual norm"))

``change_ms`` times, in the page's own clock, from the control's DOM event (a select's
``change``, an Enter or a slider key) to the first ``plotly_afterplot`` of the figure
that shows what was asked: the kernel's rebuild, the message to the page and the
redraw together.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("JUPYTER_INVOKER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
PLOT = ".jp-OutputArea-output.js-plotly-plot"
TIMEOUT_MS = 600_000

# Installed once per page: when a control's event happened, and every redraw after.
_HOOK = """(plot) => {
  const box = document.querySelector('.ji-browser-controls');
  window.__ji = {t0: 0, draws: []};
  const mark = () => { window.__ji.t0 = performance.now(); };
  box.addEventListener('change', mark, true);
  box.addEventListener('keydown', e => { if (['Enter', 'Home', 'End'].includes(e.key)) mark(); }, true);
  plot.on('plotly_afterplot', () => window.__ji.draws.push(performance.now()));
}"""
READ = """(el) => ({
  title: (el.querySelector('.gtitle') || {}).textContent || '',
  notes: Array.from(el.querySelectorAll('.annotation-text')).map(e => e.textContent).join(' | '),
  menu: Array.from(el.querySelectorAll('.updatemenu-header-group .updatemenu-item-text'))
    .map(e => e.textContent).join(' | '),
  legend: Array.from(el.querySelectorAll('.legendtext')).map(e => e.textContent),
  hover: el.data[0] && Array.isArray(el.data[0].hovertext) ? String(el.data[0].hovertext[0][0]) : '',
})"""


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]

    def api(self, route: str) -> Any:
        request = urllib.request.Request(f"{self.url}{route}")
        request.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def notebook(self, browser: Any, name: str) -> Any:
        """A page with notebook ``name`` open, its kernel up and every cell run."""
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{self.url}lab/tree/{name}?token={self.token}")
        page.wait_for_selector("#jp-main-dock-panel")
        while True:
            kernels = [s["kernel"] for s in self.api("api/sessions") if s["path"] == name]
            if kernels and kernels[0]["execution_state"] == "idle" and kernels[0]["connections"]:
                break
            time.sleep(0.25)
        page.wait_for_timeout(1000)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.locator(PLOT + " .main-svg").first.wait_for()
        page.locator(".ji-control-view").first.wait_for(state="visible")
        page.locator(PLOT).first.evaluate(_HOOK)
        return page


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def lab(root: Path) -> Iterator[Lab]:
    """``jupyter lab`` over ``root`` with its own config and runtime folders."""
    home = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    (home / "config" / "labconfig").mkdir(parents=True)
    (home / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
           "IPYTHONDIR": str(home / "ipython"), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]  # fmt: skip
    with (home / "lab.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    server = Lab(f"http://127.0.0.1:{port}/", token, root, process)
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                server.api("api/status")
                break
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def figure(page: Any) -> dict[str, Any]:
    return dict(page.locator(PLOT).first.evaluate(READ))


def select(page: Any, name: str, label: str) -> None:
    page.locator(f".ji-control-{name} select").first.select_option(label=label)


def enter(page: Any, name: str, value: str) -> None:
    field = page.locator(f".ji-control-{name} input").first
    field.fill(value)
    field.press("Enter")


def slide(page: Any, key: str) -> None:
    handle = page.locator(".ji-control-step .noUi-handle").first
    handle.focus()
    handle.press(key)


def change_ms(page: Any, act: Callable[[], None], check: Callable[[dict[str, Any]], bool]) -> float:
    """Milliseconds from the control's event to the first redraw after which the
    figure on screen passes ``check``."""
    page.evaluate("() => { window.__ji.t0 = 0; window.__ji.draws = []; }")
    act()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        state = page.evaluate("() => window.__ji")
        t0, draws = state["t0"], [d for d in state["draws"] if d >= state["t0"] > 0]
        if draws and check(figure(page)):
            # the redraw that showed it: the last one so far (an earlier one in this
            # change would have shown an intermediate figure)
            return float(draws[-1] - t0)
        time.sleep(0.02)
    raise TimeoutError(f"the figure never showed the change: {figure(page)}")
