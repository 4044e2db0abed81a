"""Every ``.prompty`` under the server root, and one prompt's details with a preview.

    store = read_store()
    found = discover(root)                      # Discovery(paths=[(rel, real), ...], truncated=False)
    rows = [summary(rel, real, store) for rel, real in found.paths]
    one = details("prompts/capital.prompty", root / "prompts/capital.prompty", store)

The walk is bounded (``MAX_ENTRIES`` directory entries, ``MAX_DEPTH`` levels,
``MAX_PROMPTS`` prompts; past a bound ``truncated`` is true) and skips hidden
folders, ``node_modules``, ``__pycache__``, ``site-packages`` and virtual
environments (a folder holding ``pyvenv.cfg`` or ``conda-meta``); it never follows a symbolic link to
a folder, and a linked file is listed only when its target is inside the root.
Loaded prompts are cached by (mtime, size), so the sidebar's refreshes re-read
only changed files. A file that fails to load is listed with its ``error``.
Nothing here returns a secret: configuration values under key-like names are shown
as their ``${env:VAR}`` reference, or ``***`` for a literal key in a file.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._secrets import Secret
from ..exceptions import JupyterInvokerError
from ..invokers._selection import resolve_run
from ..invokers._status import configuration_needs
from ..prompty import Prompty, load

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "MAX_PROMPTS", "Discovery", "details", "discover", "summary"]

MAX_ENTRIES = 200_000
MAX_DEPTH = 24
MAX_PROMPTS = 5_000
SKIPPED = frozenset({"node_modules", "__pycache__", "site-packages"})
_PREVIEW_MAX = 20_000  # characters per message: a preview, not the whole text

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


def _load_cached(real: Path) -> Prompty | str:
    """The loaded prompt, or the error message, cached by (mtime, size)."""
    try:
        stat = real.stat()
    except OSError as exc:
        return f"{real.name} cannot be read ({exc.strerror})."
    key = str(real)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == stat.st_mtime_ns and hit[1] == stat.st_size:
        return hit[2]
    try:
        loaded: Prompty | str = load(real)
    except JupyterInvokerError as exc:
        loaded = str(exc)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        loaded = f"{real} cannot be loaded ({type(exc).__name__}: {exc})."
    with _cache_lock:
        _cache[key] = (stat.st_mtime_ns, stat.st_size, loaded)
    return loaded


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


def summary(rel: str, real: Path, store: Mapping[str, Any]) -> dict[str, Any]:
    """The ``GET /prompts`` entry for one file (see the server's module docstring)."""
    loaded = _load_cached(real)
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


def _preview(prompty: Prompty) -> dict[str, Any]:
    try:
        rendered = prompty.render(None)
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
    result = summary(rel, real, store)
    loaded = _load_cached(real)
    if isinstance(loaded, str):
        return {
            **result,
            "configuration": None,
            "parameters": None,
            "sample": None,
            "preview": {"messages": [], "text": None, "error": loaded},
        }
    return {
        **result,
        "configuration": shown_configuration(loaded.model.configuration),
        "parameters": shown_configuration(loaded.model.parameters),
        "sample": shown_configuration(loaded.sample),
        "preview": _preview(loaded),
    }
