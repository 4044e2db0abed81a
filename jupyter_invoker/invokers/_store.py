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
a lock file (``selections.json.lock``, ``filelock``: ``flock`` on POSIX, ``msvcrt`` on
Windows) for the whole read-modify-write and replace the file atomically (temporary
file + ``os.replace``), so a kernel, the server and two browser tabs never lose each
other's writes, and a reader never sees half a file. A temporary file left by a
writer that was killed is removed by the next writer (under the lock no other write
is under way). A file that is not valid JSON or not of this shape raises
:class:`InvokerConfigError` naming the file and the line; it is never replaced. So
does one that cannot be read or written (permissions, not a regular file, over
``MAX_STORE_BYTES``, not UTF-8, nested past reason, ``NaN``/``Infinity``), saying what
to do. A store written by a newer jupyter_invoker (``"version"`` above
``VERSION``) is read as far as this version understands it, but never written:
a write raises :class:`InvokerConfigError` saying to upgrade jupyter_invoker. The
store never holds a secret: every writer checks through ``_store_checks`` (keys only
as ``${env:VAR}``; no key-shaped value, credential, URL password or non-finite number
under any name); its names are importable from here too.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import filelock

from .._files import NotAFile, NotFinite, TooLarge, read_limited, strict_json
from .._secrets import is_secret_key as is_secret_field  # one rule for files and store
from ..exceptions import InvokerConfigError
from ._store_checks import (
    CONFIG_DIR_ENV,
    ENV_REFERENCE,
    check_configuration,
    check_name,
    store_path,
)

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

VERSION = 1
MAX_STORE_BYTES = 64 << 20
LOCK_TIMEOUT_S = 30.0
_TEMP_PREFIX = ".selections-"
SECTIONS = ("selections", "connections", "defaults", "kernel_invokers")


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


def _unreadable(path: Path, why: str) -> InvokerConfigError:
    return InvokerConfigError(
        f"The invoker store {path} {why}; fix it or delete it (or point {CONFIG_DIR_ENV} to "
        "another folder). It is left as it is until then."
    )


def read_store(path: Path | None = None) -> dict[str, Any]:
    """The whole store, validated (every section present); a missing file reads as empty."""
    path = store_path() if path is None else path
    try:
        raw = read_limited(path, MAX_STORE_BYTES)
    except FileNotFoundError:
        return _empty()
    except NotAFile as exc:
        raise _unreadable(path, f"{exc} (a FIFO or a device cannot be read safely)") from None
    except TooLarge as exc:
        raise _unreadable(path, f"is too large to read ({exc})") from None
    except OSError as exc:
        raise InvokerConfigError(
            f"The invoker store {path} cannot be read ({exc.strerror or exc}); fix its "
            f"permissions or point {CONFIG_DIR_ENV} to another folder."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        why = f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})"
        raise _unreadable(path, why) from None
    if not text.strip():
        return _empty()
    try:
        data = strict_json(text)
    except json.JSONDecodeError as exc:
        raise InvokerConfigError(
            f"The invoker store {path}, line {exc.lineno}, is not valid JSON ({exc.msg}); fix "
            "it or delete it to start with no selections. It is left as it is until then."
        ) from None
    except RecursionError:
        raise _unreadable(path, "nests objects or lists too deeply to read") from None
    except NotFinite as exc:
        raise _unreadable(path, f"holds {exc}, which is not a number JSON allows") from None
    return _validate(path, text, data)


# -- writing -----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(lock_path, timeout=LOCK_TIMEOUT_S):
            yield
    except filelock.Timeout:
        raise InvokerConfigError(
            f"The invoker store {path} stayed locked by another process for "
            f"{LOCK_TIMEOUT_S:g} s ({lock_path}); try again, or end the process that holds it."
        ) from None
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> InvokerConfigError:
    return InvokerConfigError(
        f"The invoker store {path} cannot be written ({exc.strerror or exc}); make its "
        f"folder writable, or point {CONFIG_DIR_ENV} to a folder that is."
    )


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary files of writers that were killed mid-write (only ever called under the
    lock, when no write is under way)."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(_TEMP_PREFIX) and entry.name.endswith(".json"):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _write(path: Path, data: Mapping[str, Any]) -> None:
    payload = json.dumps({**data, "version": VERSION}, indent=2, sort_keys=True, allow_nan=False)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".json", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise


@contextlib.contextmanager
def edit_store() -> Iterator[dict[str, Any]]:
    """Lock, re-read, hand the data to the ``with`` body, write it back if it changed.

    A malformed file raises before the body runs, so it is never overwritten.
    """
    path = store_path()
    with _locked(path):
        _remove_stale_temporaries(path.parent)
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
