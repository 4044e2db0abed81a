"""The extension's wiring: lazy entry point, the config file that enables it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_extension_points_import_no_tornado_or_heavy_modules() -> None:
    code = (
        "import sys, jupyter_invoker as ji\n"
        "points = ji._jupyter_server_extension_points()\n"
        "assert points == [{'module': 'jupyter_invoker.server'}], points\n"
        "heavy = {'tornado', 'jupyter_server', 'torch', 'transformers', 'openai'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_server_config_file_enables_the_extension() -> None:
    path = ROOT / "jupyter-config" / "server-config" / "jupyter_invoker.json"
    assert json.loads(path.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"jupyter_invoker": True}}
    }


def test_loading_the_extension_imports_the_invoker_layer_but_no_heavy_module() -> None:
    """The prompt and invoker layers load with the extension, on the server's one thread
    (no import on a request's worker thread); openai, torch and transformers do not."""
    code = (
        "import sys, types, logging, tornado.web\n"
        "from traitlets.config import Config\n"
        "from jupyter_invoker.server import _load_jupyter_server_extension\n"
        "config = Config({'JupyterInvoker': {'exclude': ['tests']}})\n"
        "app = types.SimpleNamespace(web_app=tornado.web.Application(base_url='/'),\n"
        "                            root_dir='.', log=logging.getLogger('t'), config=config)\n"
        "_load_jupyter_server_extension(app)\n"
        "print(app.web_app.settings['jupyter_invoker_exclude'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'openai', 'torch', 'transformers',"
        " 'plotly'}))\n"
        "print(all(m in sys.modules for m in ('jupyter_invoker.prompty._loader',"
        " 'jupyter_invoker.invokers._status', 'jupyter_invoker.server._listing')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == ["['tests']", "[]", "True"], out.stdout


def test_the_server_package_defers_no_import_of_its_own() -> None:
    """No function-level import of the package in server/: no import on a worker thread."""
    import ast

    for path in sorted((ROOT / "jupyter_invoker" / "server").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = [n for n in ast.walk(node) if isinstance(n, ast.ImportFrom)]
                assert not [n for n in inner if n.level > 0], f"{path.name}: {node.name}"
