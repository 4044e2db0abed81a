"""The store file itself: where it lives, its shape, locked atomic read-modify-write.

    data = read_store()                        # validated; {} sections when no file yet
    with edit_store() as data:                 # lock, re-read, change, write atomically
        data["defaults"]["openai"] = "work-openai"

One JSON file, ``$JUPYTER_INVOKER_CONFIG_DIR/selections.json``, else
``$XDG_CONFIG_HOME/jupyter_invoker/selections.json``, else
``~/.config/jupyter_invoker/selections.json``::

    {
      "version": 1,
      "selections": {"/abs/p.prompty": {"invoker": "openai", "configuration": {...}},
                     "/abs/q.prompty": {"connection": "local-serve"}},
      "connections": {"local-serve": {"invoker": "serverless",
                                      "configuration": {"endpoint": "http://127.0.0.1:8000/v1",
                                                        "model": "m", "key": "${env:SERVE_KEY}"}}},
      "defaults": {"serverless": "local-serve"},
      "kernel_invokers": {"custom": {"pids": [4242], "class": "__main__:Custom"}}
    }

Every section is optional; unknown top-level fields are kept on write. Writers hold
an advisory lock (``fcntl.flock`` on ``selections.json.lock``) for the whole
read-modify-write and replace the file atomically (temporary file + ``os.replace``),
so a kernel, the server and two browser tabs never lose each other's writes, and a
reader never sees half a file. A file that is not valid JSON or not of this shape
raises :class:`InvokerConfigError` naming the file and the line; it is never
replaced. A store written by a newer jupyter_invoker (``"version"`` above
``VERSION``) is read as far as this version understands it, but never written:
a write raises :class:`InvokerConfigError` saying to upgrade jupyter_invoker. The store never holds a secret: a field with a key-like name may only be
an ``${env:VAR}`` reference (no default), and a value that looks like a provider key
is refused under any name.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._secrets import Secret
from .._secrets import is_secret_key as is_secret_field  # one rule for files and store
from ..exceptions import InvokerConfigError

__all__ = [
    "CONFIG_DIR_ENV",
    "ENV_REFERENCE",
    "SECTIONS",
    "check_configuration",
    "check_name",
    "edit_store",
    "is_secret_field",
    "read_store",
    "store_path",
]

CONFIG_DIR_ENV = "JUPYTER_INVOKER_CONFIG_DIR"
VERSION = 1
SECTIONS = ("selections", "connections", "defaults", "kernel_invokers")
#: ``${env:VAR}``: the only form a key may take in the store (no default: a default
#: would be a literal key in disguise).
ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_ANY_ENV_REFERENCE = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*(:[^}]*)?\}$")
# Well-known provider key shapes (OpenAI, GitHub, Hugging Face, Anthropic, Google):
# refused even under an innocent field name such as `endpoint` or `model`.
_KEY_SHAPE = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|hf_[A-Za-z0-9]{20,}|AIza[A-Za-z0-9_\-]{30,})"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def store_path() -> Path:
    """Where the store lives (see the module docstring); the file may not exist yet."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser() / "selections.json"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "jupyter_invoker" / "selections.json"


def check_name(name: object, what: str) -> str:
    """``name`` if it is a valid invoker / connection name, else a sentence saying why not."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvokerConfigError(
            f"{what} name {name!r} is not valid; use 1 to 64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (for example 'work-openai')."
        )
    return name


def check_configuration(configuration: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A JSON-clean copy of ``configuration``; any literal key is refused (never echoed)."""
    clean: dict[str, Any] = {}
    for name, value in configuration.items():
        field = str(name)
        if isinstance(value, Secret):
            raise _literal_key(field, where)
        if is_secret_field(field):
            if value is None or value == "":
                continue  # "no key" (a local server): nothing to store
            if not (isinstance(value, str) and ENV_REFERENCE.match(value.strip())):
                raise _literal_key(field, where)
            value = value.strip()
        elif isinstance(value, str) and (
            _KEY_SHAPE.search(value) and not _ANY_ENV_REFERENCE.match(value)
        ):
            raise _literal_key(field, where)
        if isinstance(value, Mapping):
            value = check_configuration(value, where)
        elif isinstance(value, list):
            value = [_check_item(item, field, where) for item in value]
        elif not isinstance(value, str | int | float | bool | type(None)):
            raise InvokerConfigError(
                f"{where} has a `{field}` of type {type(value).__name__}; only JSON values "
                "(text, numbers, true/false, lists, objects) can be stored."
            )
        clean[field] = value
    return clean


def _check_item(item: Any, field: str, where: str) -> Any:
    if isinstance(item, Mapping):
        return check_configuration(item, where)
    if isinstance(item, Secret) or (isinstance(item, str) and _KEY_SHAPE.search(item)):
        raise _literal_key(field, where)
    return item


def _literal_key(field: str, where: str) -> InvokerConfigError:
    return InvokerConfigError(
        f"{where} gives `{field}` a literal key, which is refused: the store "
        f"({store_path()}) never holds secrets. Give the key as an environment variable "
        f"reference, `{field}: ${{env:MY_KEY}}`, and set MY_KEY where the kernel and the "
        "server run."
    )


# -- reading -----------------------------------------------------------------------------


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(json.dumps(needle))
    return None if at < 0 else text.count("\n", 0, at) + 1


def _malformed(path: Path, text: str, needle: str | None, what: str) -> InvokerConfigError:
    line = _line_of(text, needle) if needle else None
    where = f"{path}, line {line}" if line else str(path)
    return InvokerConfigError(
        f"The invoker store {where} does not have the expected shape: {what}. Fix that "
        "entry (or delete the file to start empty); it is left as it is until then."
    )


def _version(path: Path, text: str, data: dict[str, Any]) -> int:
    version = data.get("version", VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _malformed(path, text, "version", '"version" must be a whole number such as 1')
    return version


def _newer(path: Path, version: int) -> str:
    return (
        f"The invoker store {path} was written by a newer jupyter_invoker (store version "
        f"{version}; this one understands version {VERSION}). Upgrade jupyter_invoker "
        "(pip install -U jupyter_invoker) in every environment that uses it"
    )


def _validate(path: Path, text: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _malformed(path, text, None, "the top level must be a JSON object")
    version = _version(path, text, data)
    if version > VERSION:
        try:
            return _validate_sections(path, text, data)
        except InvokerConfigError as exc:
            raise InvokerConfigError(f"{_newer(path, version)}. {exc}") from None
    return _validate_sections(path, text, data)


def _validate_sections(path: Path, text: str, data: dict[str, Any]) -> dict[str, Any]:
    for section in SECTIONS:
        value = data.setdefault(section, {})
        if not isinstance(value, dict):
            raise _malformed(path, text, section, f'"{section}" must be an object')
    for key, entry in data["selections"].items():
        ok = isinstance(entry, dict) and (
            isinstance(entry.get("invoker"), str) != isinstance(entry.get("connection"), str)
        )
        if not ok or not isinstance(entry.get("configuration", {}), dict):
            raise _malformed(
                path,
                text,
                key,
                f'the selection for {key} must be {{"invoker": NAME}} or {{"connection": NAME}}',
            )
        _clean_or_report(path, text, key, entry.get("configuration", {}))
    for name, entry in data["connections"].items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("invoker"), str)
            and isinstance(entry.get("configuration", {}), dict)
        ):
            raise _malformed(
                path,
                text,
                name,
                f'the connection {name!r} must be {{"invoker": NAME, "configuration": {{...}}}}',
            )
        _clean_or_report(path, text, name, entry.get("configuration", {}))
    for kind, name in data["defaults"].items():
        if not isinstance(name, str):
            raise _malformed(
                path, text, kind, f"the default for {kind!r} must be a connection name"
            )
    for name, entry in data["kernel_invokers"].items():
        pids = entry.get("pids") if isinstance(entry, dict) else None
        if not (isinstance(pids, list) and all(isinstance(p, int) for p in pids)):
            raise _malformed(path, text, name, f"kernel invoker {name!r} must list its pids")
    return data


def _clean_or_report(path: Path, text: str, needle: str, configuration: Any) -> None:
    try:
        check_configuration(configuration, f"The entry {needle!r}")
    except InvokerConfigError as exc:
        # The message names the field, never the value.
        raise _malformed(path, text, needle, str(exc)) from None


def _empty() -> dict[str, Any]:
    return {"version": VERSION, **{section: {} for section in SECTIONS}}


def read_store(path: Path | None = None) -> dict[str, Any]:
    """The whole store, validated (every section present); a missing file reads as empty."""
    path = store_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    except OSError as exc:
        raise InvokerConfigError(
            f"The invoker store {path} cannot be read ({exc.strerror}); fix its permissions "
            f"or point {CONFIG_DIR_ENV} to another folder."
        ) from exc
    if not text.strip():
        return _empty()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvokerConfigError(
            f"The invoker store {path}, line {exc.lineno}, is not valid JSON ({exc.msg}); fix "
            "it or delete it to start with no selections. It is left as it is until then."
        ) from exc
    return _validate(path, text, data)


# -- writing -----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
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


def _write(path: Path, data: Mapping[str, Any]) -> None:
    payload = json.dumps({**data, "version": VERSION}, indent=2, sort_keys=True)
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


@contextlib.contextmanager
def edit_store() -> Iterator[dict[str, Any]]:
    """Lock, re-read, hand the data to the ``with`` body, write it back if it changed.

    A malformed file raises before the body runs, so it is never overwritten.
    """
    path = store_path()
    with _locked(path):
        data = read_store(path)
        version = data.get("version", VERSION)
        if version > VERSION:
            raise InvokerConfigError(
                f"{_newer(path, version)}; it is left as it is, and this version cannot "
                "change it (reading it still works)."
            )
        before = copy.deepcopy(data)
        yield data
        if data != before:
            _write(path, data)
