"""Dependencies point down: tracing imports nothing from the layers built on it."""

from __future__ import annotations

import ast
from pathlib import Path

from jupyter_invoker import LanguageModel

TRACING = Path(__file__).resolve().parents[2] / "jupyter_invoker" / "tracing"
ABOVE = ("widgets", "magics", "invokers", "server", "patching")


def _imported(path: Path) -> set[str]:
    """Package-relative module names ``path`` imports (at any depth, TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 2 and node.module:
                names.add(node.module.split(".")[0])
            elif node.level == 0 and (node.module or "").startswith("jupyter_invoker."):
                names.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jupyter_invoker."):
                    names.add(alias.name.split(".")[1])
    return names


def test_tracing_imports_no_layer_above_it() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(TRACING.glob("*.py"))
        for name in _imported(path)
        if name in ABOVE
    }
    assert not offenders, f"tracing imports a layer built on it: {sorted(offenders)}"


def test_generator_show_still_opens_the_browser(model: LanguageModel) -> None:
    with model.trace("The Eiffel Tower is in the city of") as tracer:
        tracer.invoker.save_all(only="model.layers.*")
    browser = tracer.show()  # no IPython here: built, not displayed
    assert browser.capture.mode == "trace" and len(browser.capture.runs) == 1
