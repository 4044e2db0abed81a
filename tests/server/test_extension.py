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


def test_loading_the_extension_imports_no_prompt_or_invoker_code() -> None:
    code = (
        "import sys, types, logging, tornado.web\n"
        "from jupyter_invoker.server import _load_jupyter_server_extension\n"
        "app = types.SimpleNamespace(web_app=tornado.web.Application(base_url='/'),\n"
        "                            root_dir='.', log=logging.getLogger('t'))\n"
        "_load_jupyter_server_extension(app)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('jupyter_invoker.prompty',"
        " 'jupyter_invoker.invokers', 'yaml', 'openai'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
