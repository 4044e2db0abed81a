"""The prompts sidebar in a real JupyterLab (and Notebook 7) in Debian's Chromium.

The sidebar's story: open it, see ``capital.prompty``, create a named
connection to a real ``transformers serve`` on loopback (key given as a variable's
NAME), test it, select it for the prompt, run ``%invoke`` in a notebook in the same
page and read that the connection's invoker answered Paris; switch back to local and
read that the local model ran. Screenshots go to the artifacts folder; the sidebar's
first-paint timings go to ``sidebar-timings.json`` beside them (measured, never
asserted).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import LabFactory, wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROMPT = "notebooks/prompts/capital.prompty"
PANEL_TAB = '.jp-SideBar.jp-mod-left li[data-id="jupyter-invoker-sidebar"]'
PANEL = "#jupyter-invoker-sidebar"
ROW = f'{PANEL} li.jp-InvokerSidebar-prompt[data-path="{PROMPT}"]'
KEY_VARIABLE = "JI_UI_SERVE_KEY"
KEY_VALUE = "sk-UI-SECRET-NEVER-IN-DOM-0042"
CONNECTION = "serve-local"
PASTED_KEY = "sk-proj-PASTED-0123456789"
RUN_TIMEOUT_MS = 240_000
PROMPTS_ROUTE = re.compile(r"jupyter-invoker/prompts(\?|$)")  # the list, not one prompt
# JupyterLab's own poll of the running kernels, every 10 s: two of the sidebar's 5 s periods.
KERNELS_POLL = re.compile(r"/api/kernels(\?|$)")


def _workspace(root: Path) -> Path:
    (root / "notebooks" / "prompts").mkdir(parents=True)
    shutil.copy(REPO / PROMPT, root / PROMPT)
    broken = root / "drafts" / "broken.prompty"
    broken.parent.mkdir()
    broken.write_text("---\nname: [unclosed\n---\nuser:\nhi\n")
    notebook = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
             "outputs": [], "source": ""},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                    "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    (root / "sidebar.ipynb").write_text(json.dumps(notebook))
    return root


def _run_cell(page: Any, index: int, source: str) -> str:
    """Type ``source`` into code cell ``index``, run it, return its output's text."""
    cell = page.locator(".jp-NotebookPanel .jp-CodeCell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.type(source)
    page.keyboard.press("Shift+Enter")
    from playwright.sync_api import expect

    output = cell.locator(".jp-OutputArea-output").last
    # The live display shows "· running…" until the answer is in; its final header
    # counts tokens. (Locators re-query: a display update replaces the elements.)
    expect(output).to_contain_text("tokens", timeout=RUN_TIMEOUT_MS)
    expect(output).not_to_contain_text("running…", timeout=RUN_TIMEOUT_MS)
    return str(output.inner_text())


_MARKS = """() => Object.fromEntries(
    ['jupyter-invoker:restored', 'jupyter-invoker:first-paint'].map(
        name => [name, performance.getEntriesByName(name)[0]?.startTime ?? null]))"""


def _paint_timings(page: Any) -> dict[str, float]:
    """The extension's marks (ms since navigation): layout restored, list first painted."""
    page.wait_for_function(f"Object.values(({_MARKS})()).every(v => v !== null)")
    marks = page.evaluate(_MARKS)
    restored, painted = marks["jupyter-invoker:restored"], marks["jupyter-invoker:first-paint"]
    return {
        "layout_restored_ms": round(restored),
        "first_paint_ms": round(painted),
        "first_paint_after_restored_ms": round(painted - restored),
    }


def _written(page: Any, panel: str, what: str) -> None:
    """Wait for the panel's notice that the selection was stored (after the PUT)."""
    notice = page.locator(f"{panel} .jp-InvokerSidebar-notice")
    notice.filter(has_text=f"{PROMPT} now runs on {what}.").wait_for()


def _open_sidebar_ms(page: Any) -> float:
    """Click the sidebar's tab; milliseconds until the prompt's row is visible."""
    started = time.perf_counter()
    page.locator(PANEL_TAB).click()
    page.locator(ROW).wait_for(state="visible", timeout=30_000)
    return (time.perf_counter() - started) * 1000


def test_sidebar_switches_capital_between_a_connection_and_local(
    lab_server: LabFactory,
    page: Any,
    artifacts: Path,
    serve_url: str,
    default_model: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    root = _workspace(tmp_path / "workspace")
    server = lab_server(root, env={KEY_VARIABLE: KEY_VALUE})

    server.open(page, "lab/tree/sidebar.ipynb")
    cold = _paint_timings(page)
    click_to_visible_ms = _open_sidebar_ms(page)
    row = page.locator(ROW)
    assert row.locator(".jp-InvokerSidebar-name").inner_text() == "capital"
    assert "file asks for" in row.inner_text()
    assert row.get_attribute("data-status") == "ready"
    broken = page.locator(f'{PANEL} li[data-path="drafts/broken.prompty"]')
    assert broken.get_attribute("data-status") == "error"
    assert "file error" in broken.inner_text()
    row.get_by_role("button", name="Preview").click()
    preview = row.locator(".jp-InvokerSidebar-preview")
    preview.get_by_text("What is the capital of France?").wait_for()
    assert "You are a concise geography assistant." in preview.inner_text()
    page.screenshot(path=artifacts / "sidebar-1-prompts.png")

    # A named connection to the loopback server; the key is a variable's NAME.
    panel = page.locator(PANEL)
    panel.get_by_role("button", name="New connection").click()
    form = panel.get_by_role("form", name="New connection")
    form.get_by_label("Name", exact=True).fill(CONNECTION)
    form.get_by_label("Invoker", exact=True).select_option("openai")
    form.get_by_label("Endpoint", exact=True).fill(serve_url)
    form.get_by_label("Model or deployment", exact=True).fill(default_model)
    form.get_by_label("Key variable", exact=True).fill(KEY_VARIABLE)
    form.get_by_role("button", name="Save").click()
    item = panel.locator(f'li.jp-InvokerSidebar-connection[data-name="{CONNECTION}"]')
    item.wait_for()
    assert f"key: ${KEY_VARIABLE} (set)" in item.inner_text()
    item.get_by_role("button", name=f"Test connection {CONNECTION}").click()
    result = item.locator(".jp-InvokerSidebar-result")
    expect(result).not_to_have_text(re.compile(r"^(Testing…)?$"), timeout=60_000)
    assert result.inner_text().startswith("OK: openai"), result.inner_text()
    stored = server.api("GET", f"jupyter-invoker/connections/{CONNECTION}")[1]
    assert stored["configuration"]["api_key"] == f"${{env:{KEY_VARIABLE}}}"

    # Select it for the prompt: written at once, no restart.
    row.get_by_label("Runs on").select_option(f"connection:{CONNECTION}")
    _written(page, PANEL, CONNECTION)
    page.locator(f"{ROW} .jp-InvokerSidebar-runsOn", has_text=f"via {CONNECTION}").wait_for()
    status, selection = server.api("GET", f"jupyter-invoker/selections/{PROMPT}")
    assert status == 200 and selection["connection"] == CONNECTION
    page.screenshot(path=artifacts / "sidebar-2-connection.png")

    text = _run_cell(page, 0, f"%load_ext jupyter_invoker\n%invoke {PROMPT} -i country=France")
    header = text.strip().splitlines()[0]
    assert header.startswith("openai"), text
    assert default_model in header or Path(default_model).name in header, text
    assert "Paris" in text, text
    page.screenshot(path=artifacts / "sidebar-3-connection-answered.png")

    # Back to local: the next run takes the local model.
    row.get_by_label("Runs on").select_option("invoker:local")
    _written(page, PANEL, "local")
    assert server.api("GET", f"jupyter-invoker/selections/{PROMPT}")[1]["invoker"] == "local"
    text = _run_cell(page, 1, f"%invoke {PROMPT} -i country=France")
    assert text.strip().startswith("local"), text
    assert "Paris" in text, text
    page.screenshot(path=artifacts / "sidebar-4-local-answered.png")

    # No secret anywhere in the page.
    assert KEY_VALUE not in page.content()

    # A second page load against the now-warm server (the usual case).
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel")
    timings = {
        "cold_server": cold,
        "warm_server": _paint_timings(page),
        "tab_click_to_row_visible_ms": round(click_to_visible_ms),
    }
    (artifacts / "sidebar-timings.json").write_text(json.dumps(timings, indent=2) + "\n")


def test_notebook7_tree_has_a_prompts_tab(
    lab_server: LabFactory, page: Any, artifacts: Path, tmp_path: Path
) -> None:
    root = _workspace(tmp_path / "workspace")
    server = lab_server(root, app="notebook")
    server.open(page, "tree")
    page.get_by_role("tab", name="Prompts").click()
    row = page.locator(f'#jupyter-invoker-tree li[data-path="{PROMPT}"]')
    row.wait_for(state="visible")
    assert row.get_attribute("data-status") == "ready"
    row.get_by_label("Runs on").select_option("invoker:local")
    _written(page, "#jupyter-invoker-tree", "local")
    assert server.api("GET", f"jupyter-invoker/selections/{PROMPT}")[1]["invoker"] == "local"

    # A prompt written elsewhere (a terminal, a kernel) shows on Refresh.
    (root / "extra").mkdir()
    shutil.copy(REPO / PROMPT, root / "extra" / "second.prompty")
    panel = page.locator("#jupyter-invoker-tree")
    panel.get_by_role("button", name="Refresh prompts and connections").click()
    panel.locator('li[data-path="extra/second.prompty"]').wait_for()

    # A key pasted where the variable's NAME belongs is refused and wiped from the page.
    panel.get_by_role("button", name="New connection").click()
    form = panel.get_by_role("form", name="New connection")
    form.get_by_label("Name", exact=True).fill("pasted")
    form.get_by_label("Key variable", exact=True).fill(PASTED_KEY)
    form.get_by_role("button", name="Save").click()
    form.get_by_role("alert").filter(has_text="NAME of an environment variable").wait_for()
    assert form.get_by_label("Key variable", exact=True).input_value() == ""
    assert PASTED_KEY not in page.content()
    assert server.api("GET", "jupyter-invoker/connections")[1]["connections"] == []
    page.screenshot(path=artifacts / "sidebar-notebook7-tree.png")


def test_sidebar_follows_prompts_changed_outside_the_browser(
    lab_server: LabFactory, page: Any, artifacts: Path, tmp_path: Path
) -> None:
    """Files written from a terminal (here: this test, on disk) reach the open panel by
    its poll, with no click; a poll whose answer is unchanged re-renders nothing."""
    from playwright.sync_api import expect

    root = _workspace(tmp_path / "workspace")
    server = lab_server(root)
    server.open(page, "lab/tree/sidebar.ipynb")
    page.locator(PANEL_TAB).click()
    row = page.locator(ROW)
    row.wait_for(state="visible")
    row.get_by_role("button", name="Preview").click()
    preview = row.locator(".jp-InvokerSidebar-preview")
    preview.get_by_text("What is the capital of France?").wait_for()

    # Nothing changes for two polls: the very same row element stays in the page. The
    # poll asks again only once a round is done: the third round's request means the
    # second round's answer has been compared (and rendered nothing).
    row.evaluate("node => { node.dataset.pollMark = 'kept'; }")
    for _ in range(3):
        with page.expect_request(PROMPTS_ROUTE, timeout=60_000):
            pass
    assert page.locator(f"{ROW}[data-poll-mark='kept']").count() == 1

    # Written elsewhere: a new prompt appears, an edited template reloads the open
    # preview, a deleted prompt goes; the mark shows the list was re-rendered by then.
    (root / "extra").mkdir()
    shutil.copy(REPO / PROMPT, root / "extra" / "second.prompty")
    page.locator(f'{PANEL} li[data-path="extra/second.prompty"]').wait_for(timeout=60_000)
    capital = root / PROMPT
    capital.write_text(capital.read_text().replace("the capital of", "the largest city of"))
    expect(preview).to_contain_text("the largest city of France", timeout=60_000)
    (root / "drafts" / "broken.prompty").unlink()
    page.locator(f'{PANEL} li[data-path="drafts/broken.prompty"]').wait_for(
        state="detached", timeout=60_000
    )
    page.screenshot(path=artifacts / "sidebar-5-followed-disk-changes.png")

    # Hidden, it stops asking: no request reaches the prompts route for two periods. The
    # page's own clock says when they have passed: JupyterLab's kernels poll asks twice,
    # and its second request comes a full 10 s poll period after its first.
    page.locator(PANEL_TAB).click()
    page.locator(PANEL).wait_for(state="hidden")
    asked: list[str] = []
    page.on(
        "request", lambda r: asked.append(r.url) if "jupyter-invoker/prompts" in r.url else None
    )
    for _ in range(2):
        with page.expect_request(KERNELS_POLL, timeout=60_000):
            pass
    assert asked == [], asked
    assert server.api("GET", "jupyter-invoker/prompts")[0] == 200


def _repository_like(root: Path) -> Path:
    """The repository's own 23 prompts (22 of them test fixtures), where they are, plus
    a drafts folder the server's exclude setting keeps out, and a notebook."""
    for source in sorted(REPO.glob("**/*.prompty")):
        rel = source.relative_to(REPO)
        if rel.parts[0] in {".venv", "node_modules"} or "node_modules" in rel.parts:
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    (root / "drafts").mkdir()
    shutil.copy(REPO / PROMPT, root / "drafts" / "excluded.prompty")
    _workspace(root / "nb")  # a notebook (and its own prompts) to open a kernel with
    shutil.move(str(root / "nb" / "sidebar.ipynb"), root / "sidebar.ipynb")
    shutil.rmtree(root / "nb")
    return root


def _wait_for_saved_folders(server: Any, collapsed: list[str], timeout_s: float = 30) -> None:
    """Until JupyterLab has saved the collapsed folders into the workspace (it saves its
    state database shortly after a change, not at once)."""

    def saved() -> Any:
        status, body = server.api("GET", "lab/api/workspaces/default")
        data = (body.get("data") or {}) if status == 200 and isinstance(body, dict) else {}
        return (data.get("jupyter-invoker:sidebar-folders") or {}).get("collapsed")

    wait_until(
        f"the workspace saving the collapsed folders {collapsed}",
        saved,
        lambda got: got == collapsed,
        timeout_s=timeout_s,
        every_s=0.2,
    )


CUSTOM = f'{PANEL} li[data-path="tests/invokers/assets/custom.prompty"]'
# One statement a line: the editor indents after a `class ...:` line by itself.
REGISTER_CUSTOM = (
    "from jupyter_invoker.invokers import Invoker, InvokerFactory\n"
    "Custom = type('Custom', (Invoker,), {'invoke_sync': lambda self, data: 'hi'})\n"
    "InvokerFactory.register('custom', Custom)\n"
    "print('registered; tokens')"  # _run_cell waits for 'tokens'
)


def test_sidebar_in_a_repository_filters_collapses_excludes_and_keeps_connections_in_view(
    lab_server: LabFactory, page: Any, artifacts: Path, tmp_path: Path
) -> None:
    """Opened at a repository root: 23 prompts, 22 of them fixtures. The filter box narrows
    them, folders collapse and stay collapsed after a reload, the exclude setting keeps a
    folder out, Connections are in view without scrolling, and `ready` means it runs."""
    from playwright.sync_api import expect

    root = _repository_like(tmp_path / "repo")
    server = lab_server(root, args=["--JupyterInvoker.exclude=drafts"])
    server.open(page, "lab/tree/sidebar.ipynb")
    page.locator(PANEL_TAB).click()
    panel = page.locator(PANEL)
    rows = panel.locator("li.jp-InvokerSidebar-prompt")
    expect(rows).to_have_count(23)
    assert panel.locator('li[data-path^="drafts/"]').count() == 0  # excluded by the server
    listed = server.api("GET", "jupyter-invoker/prompts")[1]["prompts"]
    assert not [p for p in listed if p["path"].startswith("drafts/")]

    # Connections: in view without scrolling, the long list scrolls in its own region.
    new_connection = panel.get_by_role("button", name="New connection")
    box, panel_box = new_connection.bounding_box(), panel.bounding_box()
    assert box is not None and panel_box is not None
    assert (
        panel_box["y"] <= box["y"]
        and box["y"] + box["height"] <= panel_box["y"] + panel_box["height"]
    )
    assert box["y"] + box["height"] <= 900  # the viewport
    assert panel.evaluate("node => node.scrollTop") == 0
    prompts = panel.locator(".jp-InvokerSidebar-prompts")
    assert prompts.evaluate("node => node.scrollHeight > node.clientHeight")
    page.screenshot(path=artifacts / "sidebar-6-repository.png")

    # "ready" only when it would run: no `custom` invoker is registered anywhere yet.
    custom = page.locator(CUSTOM)
    expect(custom).to_have_attribute("data-status", "unset")
    assert "invoker not registered" in custom.inner_text()

    # The filter box narrows the list (name, path), and says when nothing matches.
    filter_box = panel.get_by_label("Filter prompts")
    filter_box.fill("capital")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-path") == PROMPT
    page.screenshot(path=artifacts / "sidebar-7-filtered.png")
    filter_box.fill("golden env")
    expect(rows).to_have_count(1)
    filter_box.fill("no-such-prompt")
    expect(rows).to_have_count(0)
    expect(panel.get_by_text("No prompt matches “no-such-prompt”.")).to_be_visible()
    filter_box.fill("")
    expect(rows).to_have_count(23)

    # A folder collapses, and stays collapsed after the page is reloaded.
    golden = panel.locator('button[data-folder="tests/prompty/assets/golden"]')
    expect(golden).to_have_attribute("aria-expanded", "true")
    golden.click()
    expect(golden).to_have_attribute("aria-expanded", "false")
    expect(rows).to_have_count(23 - 16)
    assert "16" in golden.inner_text()
    page.screenshot(path=artifacts / "sidebar-8-collapsed.png")
    _wait_for_saved_folders(server, ["tests/prompty/assets/golden"])
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel")
    _paint_timings(page)  # the layout is restored (the panel reopened, if it was open)
    if not page.locator(PANEL).is_visible():
        page.locator(PANEL_TAB).click()
    golden = page.locator(f'{PANEL} button[data-folder="tests/prompty/assets/golden"]')
    expect(golden).to_have_attribute("aria-expanded", "false")
    expect(page.locator(f"{PANEL} li.jp-InvokerSidebar-prompt")).to_have_count(23 - 16)

    # Registered in the notebook's kernel, `custom` would run: now it is ready.
    text = _run_cell(page, 0, REGISTER_CUSTOM)
    assert "registered" in text
    page.locator(PANEL).get_by_role("button", name="Refresh prompts and connections").click()
    expect(page.locator(CUSTOM)).to_have_attribute("data-status", "ready", timeout=60_000)
    page.screenshot(path=artifacts / "sidebar-9-custom-ready.png")
