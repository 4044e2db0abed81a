"""Public surface, version source, and the README/CI contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupyter_invoker

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_is_pinned() -> None:
    assert jupyter_invoker.__all__ == [
        "InvokerFactory",
        "LanguageModel",
        "Prompty",
        "__version__",
        "execute",
        "execute_async",
        "execute_many",
        "load",
        "prepare",
        "show",
    ]
    assert jupyter_invoker.__all__ == sorted(jupyter_invoker.__all__)
    for name in jupyter_invoker.__all__:
        assert getattr(jupyter_invoker, name) is not None


def test_one_version_source() -> None:
    from importlib.metadata import version

    assert version("jupyter_invoker") == jupyter_invoker.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=", pyproject, re.M)  # dynamic, from _version.py
    assert 'dynamic = ["version"]' in pyproject


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash (\w+)\n(.*?)\n```", readme, re.S)
    commands = {kind: body.strip() for kind, body in blocks}
    assert set(commands) == {"main", "test"}, "README needs exactly the two set-up commands"
    assert "pip install torch==2.13.0" in commands["test"]
    assert "jupyter lab" in commands["main"]
    # Lab opens at the repository root (README, tests, benchmarks in reach) on the quickstart.
    assert "--ServerApp.root_dir=." in commands["main"]
    assert "--LabApp.default_url=/lab/tree/notebooks/01_tracing.ipynb" in commands["main"]
    out = subprocess.run(
        ["bash", "-c", "sed -n '/^```bash test$/{n;p}' README.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == commands["test"]
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_import_is_fast_and_light() -> None:
    code = "import sys, jupyter_invoker; print(len([m for m in sys.modules if m.startswith(('torch', 'transformers', 'openai', 'jinja2'))]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
