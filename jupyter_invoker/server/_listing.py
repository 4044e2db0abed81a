"""One prompt's row of ``GET /prompts`` and its details with a preview, never a secret.

    context = ListingContext.now()          # the store, key-named values, known invokers: once
    rows = [summary(rel, real, context) for rel, real in discover(root).paths]
    one = details("prompts/capital.prompty", root / "prompts/capital.prompty", context)

Loaded prompts are cached by (mtime, size), so the sidebar's refreshes re-read only
changed files. A file that fails to load is listed with its ``error``; nothing one
file holds can fail the whole listing or make an answer that is not strict JSON (a
row that would is replaced by its error). ``ready`` is true only when the prompt
would run now: its invoker is registered (here, by an entry point, or in a live
kernel; else ``needs`` holds ``invoker:<name>``) and has what it needs.

Nothing here returns a secret: configuration values under key-like names are shown
as their ``${env:VAR}`` reference, ``***`` for a literal key in a file, and a URL's
password as ``***``. Previews render only what the file holds (``${env:}`` is allowed
under ``model.configuration`` alone, which is never rendered), and every answer is
passed through :func:`mask_environment`, which replaces the value of any variable the
prompt references, any literal secret of its configuration, and any variable with a
key-like name (``OPENAI_API_KEY``) by ``***`` wherever it still turns up.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._secrets import (
    Secret,
    environment_keys,
    leaves,
    longest_first,
    mask_url_password,
    redact_json,
    referenced_variables,
    url_password,
)
from ..exceptions import JupyterInvokerError
from ..invokers import InvokerFactory
from ..invokers._selection import resolve_run
from ..invokers._status import configuration_needs, known_invokers
from ..invokers._store import read_store
from ..prompty import Prompty, load
from ..prompty._render import render

__all__ = ["ListingContext", "details", "mask_environment", "shown_configuration", "summary"]

_PREVIEW_MAX = 20_000  # characters per message: a preview, not the whole text

_cache: dict[str, tuple[int, int, Prompty | str]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ListingContext:
    """What every row of one listing shares, read once per listing."""

    store: Mapping[str, Any]
    key_named: list[str]  # the environment's key-named values, masked everywhere
    known: frozenset[str]  # the invoker names a prompt can run on now

    @classmethod
    def now(cls) -> ListingContext:
        store = read_store()
        return cls(store, environment_keys(), frozenset(known_invokers(store)))


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
    except Exception as exc:  # anything a hostile file can still provoke: its own error
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
            plain = value.get_secret()
            masked = mask_url_password(plain)  # a URL keeps its host, loses its password
            shown[str(key)] = masked if masked != plain else "***"
        elif isinstance(value, Mapping):
            shown[str(key)] = shown_configuration(value)
        elif isinstance(value, list):
            shown[str(key)] = ["***" if isinstance(v, Secret) else v for v in value]
        else:
            shown[str(key)] = value
    return shown


def _status(prompty: Prompty, real: Path, context: ListingContext) -> dict[str, Any]:
    """Which invoker / connection would run it now, and what that lacks."""
    written = InvokerFactory.canonical_name(prompty.invoker)
    own = {k: v for k, v in prompty.model.configuration.items() if k != "type"}
    try:
        choice = resolve_run(
            real,
            None,
            written=written,
            has_own_configuration=bool(own),
            store=context.store,
            resolved=True,
        )
    except JupyterInvokerError as exc:
        return {"runs_on": None, "ready": False, "needs": [], "status_error": str(exc)}
    config = {**(own if choice.invoker == written else {}), **(choice.configuration or {})}
    if choice.invoker in context.known:
        needs = configuration_needs(choice.invoker, config)
    else:  # running it would fail: "No invoker is registered under ..."
        needs = [f"invoker:{choice.invoker}"]
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


def _row(rel: str, real: Path, context: ListingContext, loaded: Prompty | str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "path": rel,
        "folder": rel.rpartition("/")[0],
        "selected": _selected(real, context.store),
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
        **_status(loaded, real, context),
    }


def _strict(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` if it is strict JSON (no NaN, no Infinity, only JSON types); else ValueError."""
    json.dumps(answer, allow_nan=False)
    return answer


def _guarded(
    rel: str, real: Path, context: ListingContext, build: Any, loaded: Prompty | str
) -> dict[str, Any]:
    """``build()`` masked and strict; a failure becomes the file's own error row."""
    try:
        return _strict(_masked(build(), loaded, context.key_named))
    except Exception as exc:
        message = f"{real} cannot be listed ({type(exc).__name__}: {exc})."
        return _masked(_row(rel, real, context, message), None, context.key_named)


def summary(rel: str, real: Path, context: ListingContext) -> dict[str, Any]:
    """The ``GET /prompts`` entry for one file (see the server's module docstring)."""
    loaded, version = _load_cached(real)
    return _guarded(
        rel, real, context, lambda: {**_row(rel, real, context, loaded), "version": version}, loaded
    )


def _masked(
    answer: dict[str, Any], loaded: Prompty | str | None, key_named: list[str]
) -> dict[str, Any]:
    prompty = loaded if isinstance(loaded, Prompty) else None
    masked: dict[str, Any] = mask_environment(answer, environment_secrets(prompty, key_named))
    return masked


def _secret_plain(value: Any) -> str | None:
    """A literal secret of a file (a key, or a URL's password) as it would be shown."""
    if not isinstance(value, Secret):
        return None
    plain = value.get_secret()
    if plain.startswith("${env:"):
        return None
    return url_password(plain) or plain


def environment_secrets(prompty: Prompty | None, key_named: list[str] | None = None) -> list[str]:
    """Values to mask: every variable ``prompty`` references, the secrets of its
    configuration (literal keys, URL passwords) and every key-named variable
    (``key_named``, or read from the environment now)."""
    names: set[str] = set()
    values: list[str] = []
    if prompty is not None:
        parts = [prompty.sample, prompty.model.configuration, prompty.model.parameters]
        parts += [spec.default for spec in prompty.inputs.values()]
        for part in (*parts, prompty.model.extra, prompty.extra, prompty.template):
            names |= referenced_variables(part)
        plain = (_secret_plain(v) for v in leaves(prompty.model.configuration))
        values += [value for value in plain if value is not None]
    values += [os.environ[name] for name in names if os.environ.get(name)]
    values += environment_keys() if key_named is None else key_named
    return longest_first(values)


def mask_environment(value: Any, secrets: list[str]) -> Any:
    """``value`` (JSON data) with each of ``secrets`` replaced by ``***`` in every string."""
    return redact_json(value, *secrets) if secrets else value


def _preview(prompty: Prompty) -> dict[str, Any]:
    try:
        rendered = render(prompty, None, resolve_env_refs=False)
    except JupyterInvokerError as exc:
        return {"messages": [], "text": None, "error": str(exc)}
    except Exception as exc:  # a template can still provoke anything: its own error
        message = f"{prompty.path}: the preview failed ({type(exc).__name__}: {exc})."
        return {"messages": [], "text": None, "error": message}
    if isinstance(rendered, str):
        return {"messages": [], "text": rendered[:_PREVIEW_MAX], "error": None}
    messages = [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))[:_PREVIEW_MAX]}
        for m in rendered
    ]
    return {"messages": messages, "text": None, "error": None}


def _details(
    rel: str, real: Path, context: ListingContext, loaded: Prompty | str, version: str | None
) -> dict[str, Any]:
    result = {**_row(rel, real, context, loaded), "version": version}
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


def details(rel: str, real: Path, context: ListingContext) -> dict[str, Any]:
    """The ``GET /prompts/<path>`` answer: the summary plus configuration and preview."""
    loaded, version = _load_cached(real)
    answer = _guarded(
        rel, real, context, lambda: _details(rel, real, context, loaded, version), loaded
    )
    answer.setdefault("version", version)
    for field in ("configuration", "parameters", "sample"):
        answer.setdefault(field, None)
    answer.setdefault("preview", {"messages": [], "text": None, "error": answer["error"]})
    return answer
