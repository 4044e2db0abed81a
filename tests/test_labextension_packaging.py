"""The JupyterLab extension's packaging: one version, a wheel that carries the prebuilt
extension and the server switch, and both extension lists showing it enabled.

The wheel is built once per session through the hatch build hook (`pip wheel`, without
build isolation when the dev extras' hatchling is there); after the README's editable
install the hook finds the extension already built and reuses it, so the build needs
no Node here. Installing the wheel into an empty prefix shows
that pip alone (no Node, no `jupyter ... enable`) gives an enabled extension.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import jupyter_invoker

ROOT = Path(__file__).resolve().parent.parent
NPM_NAME = "jupyter-invoker"
LABEXT = f"share/jupyter/labextensions/{NPM_NAME}"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_invoker.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _jupyter(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", *args],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip
    return ANSI.sub("", out.stdout + out.stderr)


def _data_path(name: str) -> str:
    """The ``<NAME>.data/data/`` prefix of a wheel's shared data."""
    return f"jupyter_invoker-{jupyter_invoker.__version__}.data/data/{name}"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    if all(
        importlib.util.find_spec(name)
        for name in ("hatchling", "hatch_jupyter_builder", "hatch_nodejs_version")
    ):
        # The dev extras carry the build backend: seconds instead of minutes.
        command.append("--no-build-isolation")
    result = subprocess.run([*command, str(ROOT)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = out.glob("jupyter_invoker-*.whl")
    return path


def test_package_json_version_is_the_python_version() -> None:
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["name"] == NPM_NAME
    assert package["version"] == jupyter_invoker.__version__
    assert package["jupyterlab"]["outputDir"] == "../jupyter_invoker/labextension"


def test_lockfile_and_yarn_settings_are_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "labextension"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"labextension/yarn.lock", "labextension/.yarnrc.yml"} <= set(tracked)
    assert not [path for path in tracked if "/node_modules/" in path or path.endswith(".js.map")]
    assert "enableScripts: false" in (ROOT / "labextension" / ".yarnrc.yml").read_text()


@pytest.mark.slow
def test_wheel_carries_the_prebuilt_extension_and_server_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    labext = _data_path(LABEXT)
    assert f"{labext}/package.json" in names
    assert f"{labext}/install.json" in names
    assert f"{labext}/static/style.js" in names
    assert any(re.fullmatch(rf"{re.escape(labext)}/static/remoteEntry\.\w+\.js", n) for n in names)
    assert _data_path(SERVER_CONFIG) in names
    # Sources and build folders stay out; the package itself does not repeat the bundle.
    # (webpack names shared-module chunks "node_modules_<pkg>_....js": a file, not the folder)
    assert not [n for n in names if n.endswith(".ts") or "/node_modules/" in n]
    assert not [n for n in names if n.startswith("jupyter_invoker/labextension/")]
    config = json.loads(zipfile.ZipFile(wheel).read(_data_path(SERVER_CONFIG)))
    assert config == {"ServerApp": {"jpserver_extensions": {"jupyter_invoker": True}}}
    built = json.loads(zipfile.ZipFile(wheel).read(f"{labext}/package.json"))
    assert built["name"] == NPM_NAME and built["version"] == jupyter_invoker.__version__


@pytest.mark.slow
def test_installed_wheel_is_enabled_without_node(wheel: Path, tmp_path: Path) -> None:
    """`pip install <wheel>` into a fresh environment: both lists show it enabled."""
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    # Borrow this environment's packages (pip, jupyterlab, ...) behind the new one's own;
    # `--ignore-installed` below keeps pip from touching this environment's copy.
    (site,) = (env_dir / "lib").glob("python3*/site-packages")
    borrowed = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "zz_borrowed.pth").write_text("\n".join(borrowed) + "\n")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "user-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "user-data"),
        "PATH": str(env_dir / "bin"),  # no Node, no jlpm
    }
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", str(wheel)],
        check=True, capture_output=True, timeout=300, env=env,
    )  # fmt: skip
    assert (env_dir / LABEXT / "static" / "style.js").is_file()

    def run(module: str) -> str:
        out = subprocess.run(
            [str(python), "-m", module, "list"],
            capture_output=True, text=True, timeout=120, env=env, check=True,
        )  # fmt: skip
        return ANSI.sub("", out.stdout + out.stderr)

    labext = run("jupyterlab.labextensions")
    assert f"{env_dir}/share/jupyter/labextensions" in labext, labext
    assert re.search(rf"{NPM_NAME} v\S+ enabled OK \(python, jupyter_invoker\)", labext), labext
    server = run("jupyter_server.extension.serverextension")
    section = server[server.index(f"Config dir: {env_dir}/etc/jupyter") :]
    assert re.search(r"^\s*jupyter_invoker enabled", section, re.M), server


def test_this_environment_lists_both_extensions_enabled() -> None:
    """The README's install (`pip install -e ".[lab]"`/`.[dev]`) needs no extra command."""
    labext = _jupyter("labextension", "list")
    assert re.search(rf"{NPM_NAME} v\S+ enabled OK \(python, jupyter_invoker\)", labext), labext
    server = _jupyter("server", "extension", "list")
    assert re.search(r"^\s*jupyter_invoker enabled", server, re.M), server
    validation = server[server.index("Validating jupyter_invoker") :].splitlines()[:2]
    assert "OK" in validation[1] and "failed" not in validation[1], server


def _jlpm(script: str) -> subprocess.CompletedProcess[str]:
    """``jlpm <script>`` in labextension/ (its node_modules come from `pip install -e`)."""
    labext = ROOT / "labextension"
    jlpm = Path(sys.executable).parent / "jlpm"
    if not (labext / "node_modules").is_dir() or not jlpm.exists():
        reason = "labextension/node_modules or jlpm is missing (the README's `pip install -e` installs both)."
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    return subprocess.run(
        [str(jlpm), script], cwd=labext, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", ["test", "lint:check"])
def test_the_sidebar_typescript_passes_its_unit_tests_and_lint(script: str) -> None:
    """jest (the model, the connection form, the remembered folders) and the extension
    template's prettier + eslint check, run by the suite like everything else."""
    out = _jlpm(script)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    if script == "test":
        assert "model.spec.ts" in out.stderr and "connectionFields.spec.ts" in out.stderr


def test_the_sidebar_polls_through_lumino_and_its_plugins_cast_nothing() -> None:
    """No hand-written timer loop (Poll and Debouncer from @lumino/polling do it), and the
    views take the model's interface, so index.ts needs no cast."""
    src = ROOT / "labextension" / "src"
    sources = {path.name: path.read_text() for path in src.glob("*.ts")}
    assert not [name for name, text in sources.items() if "setTimeout(" in text]
    assert "from '@lumino/polling'" in sources["fileWatch.ts"]
    assert " as InvokerSidebarModel" not in sources["index.ts"]
    assert [name for name, text in sources.items() if "function errorText" in text] == ["errors.ts"]
