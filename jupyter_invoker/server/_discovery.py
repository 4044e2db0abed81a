"""Every ``.prompty`` under the server root, and one prompt's details with a preview.

    store = read_store()
    found = discover(root)                      # Discovery(paths=[(rel, real), ...], truncated=False)
    key_named = key_named_values()              # the environment's key-named values, once
    rows = [summary(rel, real, store, key_named) for rel, real in found.paths]
    one = details("prompts/capital.prompty", root / "prompts/capital.prompty", store)

The walk is bounded (``MAX_ENTRIES`` directory entries, ``MAX_DEPTH`` levels,
``MAX_PROMPTS`` prompts; past a bound ``truncated`` is true) and skips hidden
folders, ``node_modules``, ``__pycache__``, ``site-packages`` and virtual
environments (a folder holding ``pyvenv.cfg`` or ``conda-meta``); it never follows a symbolic link to
a folder, and a linked file is listed only when its target is inside the root.
Loaded prompts are cached by (mtime, size), so the sidebar's refreshes re-read
only changed files. A file that fails to load is listed with its ``error``.
Nothing here returns a secret: configuration values under key-like names are shown
as their ``${env:VAR}`` reference, or ``***`` for a literal key in a file. The preview
renders ``${env:VAR}`` in ``sample`` / input defaults as the reference text, never the
value; and every answer is passed through :func:`mask_environment`, which replaces the
value of any variable the prompt references, or any variable with a key-like name
(``OPENAI_API_KEY``), by ``***`` wherever it still turns up.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._secrets import Secret, is_secret_key, redact
from ..exceptions import JupyterInvokerError
from ..invokers._selection import resolve_run
from ..invokers._status import configuration_needs
from ..prompty import Prompty, load
from ..prompty._render import render

__all__ = [
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_PROMPTS",
    "Discovery",
    "details",
    "discover",
    "key_named_values",
    "summary",
]

MAX_ENTRIES = 200_000
MAX_DEPTH = 24
MAX_PROMPTS = 5_000
SKIPPED = frozenset({"node_modules", "__pycache__", "site-packages"})
_PREVIEW_MAX = 20_000  # characters per message: a preview, not the whole text
_ENV_USE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")
_MASK_MIN = 8  # a key-named variable's value shorter than this is not worth masking

_cache: dict[str, tuple[int, int, Prompty | str]] = {}
_cache_lock = threading.Lock()


@dataclass
class Discovery:
    """The prompt files found (``real`` paths, listing order) and whether a bound cut the walk."""

    paths: list[tuple[str, Path]] = field(default_factory=list)  # (relative, real)
    truncated: bool = False


def _skip_dir(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIPPED or entry.is_symlink():
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(entry.path, "conda-meta")
    )


def discover(root: Path) -> Discovery:
    """Walk ``root`` (already resolved) breadth-first within the bounds above."""
    found = Discovery()
    queue: deque[tuple[str, str, int]] = deque([(str(root), "", 0)])
    seen = 0
    while queue:
        folder, prefix, depth = queue.popleft()
        try:
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder: skipped, like the file browser does
        for entry in listing:
            seen += 1
            if seen > MAX_ENTRIES:
                found.truncated = True
                return found
            rel = f"{prefix}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if depth + 1 < MAX_DEPTH and not _skip_dir(entry):
                    queue.append((entry.path, rel + "/", depth + 1))
                elif depth + 1 >= MAX_DEPTH:
                    found.truncated = True
                continue
            if not entry.name.endswith(".prompty") or entry.name.startswith("."):
                continue
            real = Path(entry.path)
            if entry.is_symlink():
                real = real.resolve()
                if not real.is_relative_to(root) or not real.is_file():
                    continue
            found.paths.append((rel, real))
            if len(found.paths) >= MAX_PROMPTS:
                found.truncated = True
                return found
    found.paths.sort(key=lambda item: item[0])
    return found


def _load_cached(real: Path) -> tuple[Prompty | str, str | None]:
    """The loaded prompt (or the error message) and the file's version, an opaque
    string that changes when the file does; loads are cached by (mtime, size)."""
    try:
        stat = real.stat()
    except OSError as exc:
        return f"{real.name} cannot be read ({exc.strerror}).", None
    key = str(real)
    version = f"{stat.st_mtime_ns:x}-{stat.st_size:x}"
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == stat.st_mtime_ns and hit[1] == stat.st_size:
        return hit[2], version
    try:
        loaded: Prompty | str = load(real)
    except JupyterInvokerError as exc:
        loaded = str(exc)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        loaded = f"{real} cannot be loaded ({type(exc).__name__}: {exc})."
    with _cache_lock:
        _cache[key] = (stat.st_mtime_ns, stat.st_size, loaded)
    return loaded, version


def _inputs(prompty: Prompty) -> dict[str, Any]:
    return {
        name: {
            "type": spec.type,
            "description": spec.description,
            "required": spec.required,
            **({"default": spec.default} if spec.has_default else {}),
        }
        for name, spec in prompty.inputs.items()
    }


def shown_configuration(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration fit to send: literal keys (``Secret``) masked, references as written."""
    shown: dict[str, Any] = {}
    for key, value in configuration.items():
        if isinstance(value, Secret):
            shown[str(key)] = "***"
        elif isinstance(value, Mapping):
            shown[str(key)] = shown_configuration(value)
        elif isinstance(value, list):
            shown[str(key)] = ["***" if isinstance(v, Secret) else v for v in value]
        else:
            shown[str(key)] = value
    return shown


def _status(prompty: Prompty, real: Path, store: Mapping[str, Any]) -> dict[str, Any]:
    """Which invoker / connection would run it now, and what that lacks."""
    from ..invokers import InvokerFactory

    written = InvokerFactory.canonical_name(prompty.invoker)
    own = {k: v for k, v in prompty.model.configuration.items() if k != "type"}
    try:
        choice = resolve_run(
            real, None, written=written, has_own_configuration=bool(own), store=store, resolved=True
        )
    except JupyterInvokerError as exc:
        return {"runs_on": None, "ready": False, "needs": [], "status_error": str(exc)}
    same = choice.invoker == written or {choice.invoker, written} <= {"local", "huggingface"}
    config = {**(own if same else {}), **(choice.configuration or {})}
    needs = configuration_needs(choice.invoker, config)
    return {
        "runs_on": {"invoker": choice.invoker, "connection": choice.connection},
        "ready": not needs,
        "needs": needs,
        "status_error": None,
    }


def _selected(real: Path, store: Mapping[str, Any]) -> dict[str, Any] | None:
    entry = store["selections"].get(str(real))
    if entry is None:
        return None
    return {"invoker": entry.get("invoker"), "connection": entry.get("connection")}


def summary(
    rel: str, real: Path, store: Mapping[str, Any], key_named: list[str] | None = None
) -> dict[str, Any]:
    """The ``GET /prompts`` entry for one file (see the server's module docstring).
    ``key_named``: :func:`key_named_values`, read once for a whole listing."""
    loaded, version = _load_cached(real)
    return _masked({**_summary(rel, real, store, loaded), "version": version}, loaded, key_named)


def _masked(
    answer: dict[str, Any], loaded: Prompty | str, key_named: list[str] | None
) -> dict[str, Any]:
    prompty = None if isinstance(loaded, str) else loaded
    masked: dict[str, Any] = mask_environment(answer, environment_secrets(prompty, key_named))
    return masked


def _summary(
    rel: str, real: Path, store: Mapping[str, Any], loaded: Prompty | str
) -> dict[str, Any]:
    folder = rel.rpartition("/")[0]
    base: dict[str, Any] = {
        "path": rel,
        "folder": folder,
        "selected": _selected(real, store),
    }
    if isinstance(loaded, str):
        return {
            **base,
            "name": real.stem,
            "description": None,
            "api": None,
            "asks_for": None,
            "inputs": None,
            "error": loaded,
            "runs_on": None,
            "ready": False,
            "needs": [],
            "status_error": None,
        }
    return {
        **base,
        "name": loaded.name or real.stem,
        "description": loaded.description or None,
        "api": loaded.api,
        "asks_for": loaded.invoker,
        "inputs": _inputs(loaded),
        "error": None,
        **_status(loaded, real, store),
    }


def _referenced(value: Any, found: set[str]) -> None:
    if isinstance(value, Secret):
        value = value.get_secret()
    if isinstance(value, str):
        found.update(_ENV_USE.findall(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            _referenced(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _referenced(item, found)


def key_named_values() -> list[str]:
    """The values of the environment's key-named variables (``OPENAI_API_KEY``)."""
    return [
        value
        for name, value in os.environ.items()
        if is_secret_key(name) and len(value) >= _MASK_MIN
    ]


def environment_secrets(prompty: Prompty | None, key_named: list[str] | None = None) -> list[str]:
    """Values to mask: every variable ``prompty`` references, and every key-named one
    (``key_named``, or read from the environment now)."""
    names: set[str] = set()
    if prompty is not None:
        parts = [prompty.sample, prompty.model.configuration, prompty.model.parameters]
        parts += [spec.default for spec in prompty.inputs.values()]
        for part in (*parts, prompty.model.extra, prompty.extra, prompty.template):
            _referenced(part, names)
    values = [os.environ[name] for name in names if os.environ.get(name)]
    values += key_named_values() if key_named is None else key_named
    return sorted(set(values), key=len, reverse=True)  # longest first: no partial masks


def mask_environment(value: Any, secrets: list[str]) -> Any:
    """``value`` (JSON data) with each of ``secrets`` replaced by ``***`` in every string."""
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, Mapping):
        return {key: mask_environment(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_environment(item, secrets) for item in value]
    return value


def _preview(prompty: Prompty) -> dict[str, Any]:
    try:
        rendered = render(prompty, None, resolve_env_refs=False)
    except JupyterInvokerError as exc:
        return {"messages": [], "text": None, "error": str(exc)}
    if isinstance(rendered, str):
        return {"messages": [], "text": rendered[:_PREVIEW_MAX], "error": None}
    messages = [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))[:_PREVIEW_MAX]}
        for m in rendered
    ]
    return {"messages": messages, "text": None, "error": None}


def details(rel: str, real: Path, store: Mapping[str, Any]) -> dict[str, Any]:
    """The ``GET /prompts/<path>`` answer: the summary plus configuration and preview."""
    loaded, version = _load_cached(real)
    result = {**_summary(rel, real, store, loaded), "version": version}
    if isinstance(loaded, str):
        answer = {
            **result,
            "configuration": None,
            "parameters": None,
            "sample": None,
            "preview": {"messages": [], "text": None, "error": loaded},
        }
    else:
        answer = {
            **result,
            "configuration": shown_configuration(loaded.model.configuration),
            "parameters": shown_configuration(loaded.model.parameters),
            "sample": shown_configuration(loaded.sample),
            "preview": _preview(loaded),
        }
    return _masked(answer, loaded, None)
