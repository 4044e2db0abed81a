"""Notebook 03 as saved: what a reader sees before running anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_activation_browser.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"


def _outputs() -> list[dict[str, Any]]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return [output for cell in cells for output in cell.get("outputs", [])]


def test_no_warning_is_saved() -> None:
    """The attention recipe runs eager attention without generate's output_attentions
    flag, which transformers warns about in red on every run."""
    stderr = [o for o in _outputs() if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, stderr
    assert "generation flags are not valid" not in NOTEBOOK.read_text(encoding="utf-8")


def test_the_controls_are_a_sentence_where_no_kernel_draws_them() -> None:
    controls = [o for o in _outputs() if WIDGET in o.get("data", {})]
    assert controls
    for output in controls:
        text = "".join(output["data"]["text/plain"])
        assert text.startswith("Activation browser controls") and "VBox(" not in text, text
