"""Public surface, version source, and the README/CI contract."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import jupyter_invoker

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_is_pinned() -> None:
    assert jupyter_invoker.__all__ == [
        "InvokerFactory",
        "LanguageModel",
        "PatchResult",
        "Prompty",
        "__version__",
        "attribute",
        "execute",
        "execute_async",
        "execute_many",
        "load",
        "patch",
        "prepare",
        "show",
    ]
    assert jupyter_invoker.__all__ == sorted(jupyter_invoker.__all__)
    for name in jupyter_invoker.__all__:
        assert getattr(jupyter_invoker, name) is not None


def test_one_version_source() -> None:
    """labextension/package.json holds the version; nothing else writes one down."""
    import json
    from importlib.metadata import version

    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert version("jupyter_invoker") == jupyter_invoker.__version__ == package["version"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["hatch"]["version"] == {
        "source": "nodejs",
        "path": "labextension/package.json",
    }
    source = (ROOT / "jupyter_invoker" / "_version.py").read_text()
    assert not re.search(r"\d+\.\d+\.\d+", source), "a version literal in _version.py"


# Third-party modules the package imports -> the distribution that must be declared.
_DISTRIBUTION = {"IPython": "ipython", "yaml": "pyyaml", "jinja2": "jinja2"}
# Declared, never imported by us, each for a reason (see the comments in pyproject.toml).
_DECLARED_NOT_IMPORTED = {
    "accelerate", "gguf", "safetensors",  # transformers loads them by name
    "jupyterlab", "ipykernel",  # the [lab] extra: the application and the kernel themselves
}  # fmt: skip
# Imported only when installed, each behind a message that says how to install it.
_OPTIONAL = {"pandas"}  # PatchResult.to_dataframe(); result.records() needs nothing


def _third_party_imports() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "jupyter_invoker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"jupyter_invoker"}


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[;\s]", spec, maxsplit=1)[0].lower().replace("-", "_")


def test_declared_dependencies_are_the_imported_ones() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(s) for s in project["dependencies"]}
    declared |= {_requirement_name(s) for s in project["optional-dependencies"]["lab"]}
    imported = {_DISTRIBUTION.get(m, m).lower() for m in _third_party_imports()} - _OPTIONAL
    assert imported - declared == set(), "imported but not declared"
    assert declared - imported - _DECLARED_NOT_IMPORTED == set(), "declared, never imported"


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
    # The sidebar lists the notebooks' prompts, not the test suite's fixtures.
    assert "--JupyterInvoker.exclude=tests" in commands["main"]
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
