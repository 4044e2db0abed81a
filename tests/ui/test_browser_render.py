"""The executed notebook 03, reopened with no kernel in JupyterLab and in Notebook 7
(Debian's Chromium through Playwright): the activation browser's figures render (no
kernel, untrusted), the figure's own step slider works and moves the trajectory panel
with it, and the controls' place says in a sentence that they need a kernel. And the
notebooks this package ships open unmodified (their kernelspec is the kernel's own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import PLOT, answer_no_kernel, kernelless_copy, scroll_to_first_figure, wait_until

pytestmark = pytest.mark.slow  # a jupyter server and Chromium

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03_activation_browser.ipynb"
PROMPT_TOKENS = 9  # the first figure's prompt: "The Eiffel Tower is in the city of"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reopened")
    kernelless_copy(NOTEBOOK, folder, "browser.ipynb")
    return folder


READ = """(sel) => {
    const plot = document.querySelector(sel);
    return {
      plots: document.querySelectorAll(sel).length,
      svgs: plot.querySelectorAll('svg.main-svg').length,
      heatmap: plot.querySelectorAll('.heatmaplayer image, .hm image').length,
      title: (plot.querySelector('.gtitle') || {}).textContent || '',
      slider: plot.querySelectorAll('.slider-container').length,
      kernel: document.body.innerText.includes('No Kernel'),
      running: document.body.innerText.includes('ipykernel'),
    };
}"""


def _check_figure(page: Any) -> dict[str, Any]:
    from playwright.sync_api import expect

    scroll_to_first_figure(page)
    first = page.locator(PLOT).first
    first.scroll_into_view_if_needed()
    # Plotly draws the heatmap, its title and its step slider (the read retries until it has).
    found = wait_until(
        "the first figure drawn with its title and step slider",
        lambda: dict(page.evaluate(READ, PLOT)),
        lambda f: (
            f["svgs"] >= 1
            and f["heatmap"] >= 1
            and f["title"].startswith("Logit lens")
            and f["slider"] == 1
        ),
        page=page,
    )
    assert found["kernel"] and not found["running"], found
    notebook = page.locator(".jp-Notebook").first
    expect(notebook).to_contain_text("Activation browser controls")  # its cell rendered
    text = notebook.inner_text()
    assert "Activation browser controls" in text and "VBox(children" not in text, text[:1500]
    return found


def _step_back(page: Any) -> str:
    """Drag the figure's own step slider to its first step (no kernel involved)."""
    rail = page.locator(PLOT).first.locator(".slider-rail-rect")
    title = page.locator(PLOT).first.locator(".gtitle")
    for _ in range(3):  # a loaded machine may redraw slowly, or drop a click mid-redraw
        box = rail.bounding_box()
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
        try:
            title.filter(has_text="step 0").wait_for(timeout=5_000)
            break
        except Exception:  # playwright's TimeoutError: click again
            continue
    return str(title.text_content())


def _pick_position(page: Any) -> tuple[list[str], list[str]]:
    """Pick the first position in the figure's own menu: the trajectory lines change."""
    plot = page.locator(PLOT).first
    legend = "(el) => Array.from(el.querySelectorAll('.legendtext')).map(e => e.textContent)"
    before = plot.evaluate(legend)
    plot.locator(".updatemenu-header-group").first.click()
    plot.locator(".updatemenu-dropdown-button").first.wait_for()  # the menu is open
    plot.locator(".updatemenu-item-text").nth(1).click()  # item 0 repeats the header
    after = wait_until(
        "new trajectory lines after picking a position",
        lambda: list(plot.evaluate(legend)),
        lambda lines: lines != before and len(lines) == len(before),
        page=page,
        timeout_s=10,
    )
    return before, after


@pytest.mark.parametrize(
    ("app", "path"), [("lab", "lab/tree/browser.ipynb"), ("notebook", "notebooks/browser.ipynb")]
)
def test_reopened_notebook_shows_the_heatmaps(lab_server, page, artifacts, root, app, path) -> None:
    # No kernelspec at all: the reopened notebook cannot start a kernel.
    server = lab_server(root, app=app, args=["--KernelSpecManager.allowed_kernelspecs=none"])
    server.open(page, path)
    try:
        answer_no_kernel(page)
        found = _check_figure(page)
    except Exception:
        page.screenshot(path=str(artifacts / f"browser-{app}-failed.png"))
        raise
    page.screenshot(path=str(artifacts / f"browser-{app}.png"))
    title = _step_back(page)
    assert "step 0" in title and "generated so far" not in title, (title, found)
    # the trajectory panel followed the slider to the prompt's last token
    menu = page.locator(PLOT).first.locator(".updatemenu-header-group .updatemenu-item-text")
    assert menu.first.text_content().startswith(f"pos {PROMPT_TOKENS - 1} "), title
    before, after = _pick_position(page)
    assert len(before) == len(after) == 5 and before != after, (before, after)
    page.locator(PLOT).first.screenshot(path=str(artifacts / f"browser-{app}-step0.png"))


# The notebook panel of `path` in the page's application (exposed by the server).
_PANEL = """(path) => Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.context && w.context.path === path)"""
_KERNEL_CONNECTED = f"""(path) => {{
    const panel = ({_PANEL})(path);
    return !!(panel && panel.sessionContext.session && panel.sessionContext.session.kernel);
}}"""
# JupyterLab's notebook panel rewrites `kernelspec` once `kernel.spec` resolves and
# `language_info` once `kernel.info` does (both reactions were registered when the kernel
# connected, so they run before ours); then two frames let the tab bar redraw.
_AFTER_REWRITE = f"""async (path) => {{
    const panel = ({_PANEL})(path);
    const kernel = panel.sessionContext.session.kernel;
    await kernel.info;
    await kernel.spec;
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    return {{dirty: panel.context.model.dirty,
             kernelspec: panel.context.model.getMetadata('kernelspec')}};
}}"""


def test_the_shipped_notebooks_open_unmodified(lab_server, page, tmp_path) -> None:
    """Opening a notebook starts its kernel; a kernelspec that differs from the
    kernel's own (name or display name) is rewritten at once and the notebook shows
    as modified before the user did anything."""
    for name in ("01_tracing.ipynb", "03_activation_browser.ipynb"):
        (tmp_path / name).write_text((REPO / "notebooks" / name).read_text())
    # The page's application object (window.jupyterapp) shows the notebook's model.
    server = lab_server(tmp_path, args=["--LabApp.expose_app_in_browser=True"])
    for name in ("01_tracing.ipynb", "03_activation_browser.ipynb"):
        server.open(page, f"lab/tree/{name}")
        wait_until(
            f"an idle kernel for {name}",
            lambda name=name: [
                s["kernel"] for s in server.api("GET", "api/sessions")[1] if s["path"] == name
            ],
            lambda kernels: kernels and kernels[0]["execution_state"] == "idle",
            page=page,
        )
        # The page's kernel connection is up (its kernelChanged has fired) ...
        page.wait_for_function(_KERNEL_CONNECTED, arg=name)
        # ... and what a rewrite waits for (the kernel's spec and info) has come: by then
        # it has changed the notebook's metadata, or never will.
        after = page.evaluate(_AFTER_REWRITE, name)
        assert not after["dirty"], (name, after)
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        assert "jp-mod-dirty" not in (tab.get_attribute("class") or ""), name
