"""%load_ext / %unload_ext: fast, light, idempotent."""

from __future__ import annotations

import subprocess
import sys

from IPython.core.interactiveshell import InteractiveShell

HEAVY = ("torch", "transformers", "openai", "plotly")


def test_load_ext_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'jupyter_invoker')\n"
        "assert shell.find_cell_magic('invoke') and shell.find_line_magic('invoke')\n"
        "assert shell.find_cell_magic('generate') and shell.find_line_magic('invoker')\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loading_twice_is_harmless_and_unload_removes_the_magics(
    _shell: InteractiveShell,
) -> None:
    before = len(_shell.events.callbacks["post_run_cell"])
    _shell.run_line_magic("load_ext", "jupyter_invoker")
    _shell.run_line_magic("reload_ext", "jupyter_invoker")
    assert len(_shell.events.callbacks["post_run_cell"]) == before
    _shell.run_line_magic("unload_ext", "jupyter_invoker")
    try:
        for kind in ("line", "cell"):
            assert "invoke" not in _shell.magics_manager.magics[kind]
        assert _shell.find_cell_magic("generate") is None
        assert _shell.find_line_magic("invoker") is None
        assert len(_shell.events.callbacks["post_run_cell"]) == before - 1
    finally:
        _shell.run_line_magic("load_ext", "jupyter_invoker")
    assert _shell.find_cell_magic("invoke") is not None
