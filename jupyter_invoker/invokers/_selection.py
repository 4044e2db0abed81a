"""Which invoker runs which prompt: the selection store shared by sidebar and kernel.

    select_invoker("prompts/weather.prompty", "openai",
                   configuration={"base_url": "http://127.0.0.1:8000/v1"})
    selected_invoker("prompts/weather.prompty")     # 'openai'
    clear_selection("prompts/weather.prompty")

The store is one JSON file, ``$JUPYTER_INVOKER_CONFIG_DIR/selections.json``, else
``$XDG_CONFIG_HOME/jupyter_invoker/selections.json``, else
``~/.config/jupyter_invoker/selections.json``::

    {
      "version": 1,
      "selections": {
        "/abs/path/prompts/weather.prompty": {
          "invoker": "openai",
          "configuration": {"base_url": "http://127.0.0.1:8000/v1",
                            "api_key": "${env:MY_KEY}"}
        }
      }
    }

Keys are absolute paths (symlinks resolved). The file is re-read on every call, so
the sidebar (server process) and the kernel always agree, and written atomically
(a temporary file renamed over it). It never holds a secret: a configuration field
with a key-like name (``api_key``, ``key``, ``token``, ...) may only be an
``${env:VAR}`` reference, anything else is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._secrets import Secret
from ..exceptions import InvokerConfigError

__all__ = [
    "CONFIG_DIR_ENV",
    "all_selections",
    "clear_selection",
    "select_invoker",
    "selected_configuration",
    "selected_invoker",
    "selections_path",
]

CONFIG_DIR_ENV = "JUPYTER_INVOKER_CONFIG_DIR"
_VERSION = 1
_ENV_REF = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*(:[^}]*)?\}$")
_SECRETISH = re.compile(r"(^|_)(key|token|password|secret)$|^apikey$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def selections_path() -> Path:
    """Where the store lives (see the module docstring); the file may not exist yet."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser() / "selections.json"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "jupyter_invoker" / "selections.json"


def _key(prompt_path: str | os.PathLike[str]) -> str:
    return str(Path(os.fspath(prompt_path)).expanduser().resolve())


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvokerConfigError(
            f"The invoker selection store {path} cannot be read ({exc.strerror}); fix its "
            f"permissions or point {CONFIG_DIR_ENV} to another folder."
        ) from exc
    try:
        data = json.loads(text) if text.strip() else {"selections": {}}
    except json.JSONDecodeError as exc:
        raise InvokerConfigError(
            f"The invoker selection store {path} is not valid JSON (line {exc.lineno}: "
            f"{exc.msg}); fix it or delete it to start with no selections."
        ) from exc
    selections = data.get("selections") if isinstance(data, dict) else None
    if not isinstance(selections, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("invoker"), str)
        for entry in selections.values()
    ):
        raise InvokerConfigError(
            f"The invoker selection store {path} does not have the expected shape "
            '({"version": 1, "selections": {PATH: {"invoker": NAME}}}); fix it or delete it '
            "to start with no selections."
        )
    return selections


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write cycles between processes where ``fcntl`` exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: atomic replace only
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, selections: Mapping[str, Any]) -> None:
    payload = json.dumps({"version": _VERSION, "selections": selections}, indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=".selections-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_configuration(configuration: Mapping[str, Any], where: str) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in configuration.items():
        if isinstance(value, Secret) or (
            _SECRETISH.search(str(name)) and not (isinstance(value, str) and _ENV_REF.match(value))
        ):
            raise InvokerConfigError(
                f"The selection for {where} would store `{name}` in {selections_path()}, "
                "which never holds secrets: give it as an environment reference, e.g. "
                f"`{name}: ${{env:MY_KEY}}`, and set that variable."
            )
        if isinstance(value, Mapping):
            value = _check_configuration(value, where)
        elif not isinstance(value, str | int | float | bool | type(None) | list):
            raise InvokerConfigError(
                f"The selection for {where} has a `{name}` of type {type(value).__name__}; "
                "only JSON values (text, numbers, true/false, lists) can be stored."
            )
        clean[str(name)] = value
    return clean


def select_invoker(
    prompt_path: str | os.PathLike[str],
    name: str,
    *,
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Run ``prompt_path`` on invoker ``name`` from now on (optionally with connection fields)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvokerConfigError(
            f"Invoker name {name!r} is not valid; use the name of a registered invoker "
            "such as 'local', 'openai', 'azure' or 'serverless'."
        )
    key = _key(prompt_path)
    entry: dict[str, Any] = {"invoker": name.lower()}
    if configuration:
        entry["configuration"] = _check_configuration(configuration, key)
    path = selections_path()
    with _locked(path):
        selections = _read(path)
        selections[key] = entry
        _write(path, selections)


def clear_selection(prompt_path: str | os.PathLike[str]) -> None:
    """Forget the selection for ``prompt_path`` (no error if there is none)."""
    key = _key(prompt_path)
    path = selections_path()
    if not path.exists():
        return
    with _locked(path):
        selections = _read(path)
        if selections.pop(key, None) is not None:
            _write(path, selections)


def selected_invoker(prompt_path: str | os.PathLike[str]) -> str | None:
    """The invoker selected for ``prompt_path``, or ``None``."""
    entry = _read(selections_path()).get(_key(prompt_path))
    return None if entry is None else str(entry["invoker"])


def selected_configuration(prompt_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The connection fields stored with the selection for ``prompt_path``, or ``None``."""
    entry = _read(selections_path()).get(_key(prompt_path))
    config = None if entry is None else entry.get("configuration")
    return dict(config) if isinstance(config, dict) else None


def all_selections() -> dict[str, dict[str, Any]]:
    """Every stored selection: ``{absolute_prompt_path: {"invoker": ..., ...}}``."""
    return _read(selections_path())
