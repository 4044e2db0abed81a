"""The executed notebook 06 reopened with no kernel in JupyterLab (Debian's Chromium
through Playwright): the patching heatmap renders as plotly output, and hovering a
cell shows its value, layer and token."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import answer_no_kernel, kernelless_copy, scroll_to_first_figure, wait_until

pytestmark = pytest.mark.slow  # a jupyter server and Chromium

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "06_patching.ipynb"
PANELS = ["patch: residual stream", "patch: attention", "patch: MLP", "patch: heads"]
READ = """(el) => ({
    heatmaps: el.querySelectorAll('.heatmaplayer image, .hm image').length,
    titles: Array.from(el.querySelectorAll('.annotation-text')).map(e => e.textContent),
    title: (el.querySelector('.gtitle') || {}).textContent || '',
})"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("patching")
    kernelless_copy(NOTEBOOK, folder, "patching.ipynb")
    return folder


def test_reopened_patching_notebook_shows_the_heatmap_with_hover(lab_server, page, artifacts, root):
    server = lab_server(root, args=["--KernelSpecManager.allowed_kernelspecs=none"])
    server.open(page, "lab/tree/patching.ipynb")
    try:
        answer_no_kernel(page)
        plot = scroll_to_first_figure(page)
        # Plotly draws the four panels and their titles (the read retries until it has).
        wait_until(
            "the four heatmaps with their titles",
            lambda: plot.evaluate(READ),
            lambda f: (
                f["heatmaps"] == 4
                and f["titles"][:4] == PANELS
                and f["title"].startswith("logit difference ' Paris' − ' Rome'")
            ),
            page=page,
        )
        assert "No Kernel" in page.locator("body").inner_text()
        # hover the residual stream's top-right cell: layer 29, the last token (hover()
        # waits until the cell's box holds still: cells above may still be rendering)
        cell = plot.locator(".nsewdrag").first
        box = cell.bounding_box()
        cell.hover(position={"x": box["width"] - 3, "y": 3})
        hover = plot.locator(".hoverlayer .hovertext").first
        hover.wait_for(timeout=10_000)
        text = hover.text_content() or ""
    except Exception:
        page.screenshot(path=str(artifacts / "patching-failed.png"))
        raise
    plot.screenshot(path=str(artifacts / "patching-heatmap.png"))
    assert "layer 29" in text and "token 8: ␣of" in text and "patch effect 1.0000" in text, text
