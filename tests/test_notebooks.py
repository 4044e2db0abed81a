"""The notebooks as saved: what a newcomer sees before running a cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
PROGRESS_WIDGET_TEXT = ("0%|", "it/s]", "Loading weights")


def _outputs(path: Path) -> list[tuple[int, dict[str, object]]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, output) for i, cell in enumerate(cells) for output in cell.get("outputs", [])]


def _is_progress_bar(output: dict[str, object]) -> bool:
    text = json.dumps(output)
    data = output.get("data")
    if isinstance(data, dict) and "application/vnd.jupyter.widget-view+json" in data:
        plain = "".join(data.get("text/plain", []))
        if "%|" in plain or "it/s" in plain:
            return True
    return any(piece in text for piece in PROGRESS_WIDGET_TEXT)


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS][:2] == ["01_tracing.ipynb", "02_prompts_and_invokers.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_half_drawn_progress_bar_is_saved(path: Path) -> None:
    bars = [i for i, output in _outputs(path) if _is_progress_bar(output)]
    assert not bars, (
        f"{path.name}: cell(s) {bars} saved a progress bar (a widget or tqdm text such as "
        "'0%|'), which looks stalled when the notebook is opened. Silence the bar and "
        f"re-execute: jupyter nbconvert --to notebook --execute --inplace {path}"
    )
