"""Which invoker runs which prompt: the selection store shared by sidebar and kernel.

    select_invoker("prompts/weather.prompty", "openai",
                   configuration={"base_url": "http://127.0.0.1:8000/v1"})
    selected_invoker("prompts/weather.prompty")     # 'openai'
    select_connection("prompts/weather.prompty", "local-serve")   # a named connection
    selection("prompts/weather.prompty")            # {'connection': 'local-serve'}
    clear_selection("prompts/weather.prompty")

A selection names an invoker (optionally with connection fields) or a named
connection (``_connections``). Keys are absolute paths (symlinks resolved). The
store (``_store``: one JSON file, locked, written atomically, never a secret) is
re-read on every call, so the sidebar (server process) and the kernel always agree.

Which invoker and configuration a run uses (``resolve_run``, read once per run):
the explicit argument (an invoker name, or a connection name that is no invoker's)
> the prompt's selection > the file's own configuration > ``local``; then, when no
connection or stored configuration came with that choice and the file has no
configuration of its own for that invoker, the store's ``defaults[invoker]``
connection supplies it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import InvokerConfigError
from ._registry import InvokerFactory
from ._store import (
    CONFIG_DIR_ENV,
    check_configuration,
    check_name,
    edit_store,
    read_store,
    store_path,
)

__all__ = [
    "CONFIG_DIR_ENV",
    "RunChoice",
    "all_selections",
    "clear_selection",
    "resolve_run",
    "select_connection",
    "select_invoker",
    "selected_configuration",
    "selected_invoker",
    "selection",
    "selection_key",
    "selections_path",
]


def selections_path() -> Path:
    """Where the store lives; the file may not exist yet (see ``_store``)."""
    return store_path()


def selection_key(prompt_path: str | os.PathLike[str]) -> str:
    """The store's key for a prompt: its absolute path, symlinks resolved."""
    return str(Path(os.fspath(prompt_path)).expanduser().resolve())


def select_invoker(
    prompt_path: str | os.PathLike[str],
    name: str,
    *,
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Run ``prompt_path`` on invoker ``name`` from now on (optionally with connection fields)."""
    check_name(name, "Invoker")
    key = selection_key(prompt_path)
    entry: dict[str, Any] = {"invoker": name.lower()}
    if configuration:
        entry["configuration"] = check_configuration(configuration, f"The selection for {key}")
    with edit_store() as data:
        data["selections"][key] = entry


def select_connection(prompt_path: str | os.PathLike[str], connection: str) -> None:
    """Run ``prompt_path`` through the named connection from now on (it must exist)."""
    check_name(connection, "Connection")
    key = selection_key(prompt_path)
    with edit_store() as data:
        if connection not in data["connections"]:
            raise InvokerConfigError(_no_connection(connection, data))
        data["selections"][key] = {"connection": connection}


def clear_selection(prompt_path: str | os.PathLike[str]) -> None:
    """Forget the selection for ``prompt_path`` (no error if there is none)."""
    key = selection_key(prompt_path)
    if not store_path().exists():
        return
    with edit_store() as data:
        data["selections"].pop(key, None)


def selection(prompt_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The stored entry for ``prompt_path``: ``{"invoker": ...}`` or ``{"connection": ...}``."""
    entry = read_store()["selections"].get(selection_key(prompt_path))
    return None if entry is None else dict(entry)


def selected_invoker(prompt_path: str | os.PathLike[str]) -> str | None:
    """The invoker selected for ``prompt_path`` (a connection's invoker), or ``None``."""
    data = read_store()
    entry = data["selections"].get(selection_key(prompt_path))
    if entry is None:
        return None
    if "connection" in entry:
        return str(_connection(data, entry["connection"], selection_key(prompt_path))["invoker"])
    return str(entry["invoker"])


def selected_configuration(prompt_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The configuration stored with the selection (or its connection), or ``None``."""
    data = read_store()
    key = selection_key(prompt_path)
    entry = data["selections"].get(key)
    if entry is not None and "connection" in entry:
        entry = _connection(data, entry["connection"], key)
    config = None if entry is None else entry.get("configuration")
    return dict(config) if isinstance(config, dict) else None


def all_selections() -> dict[str, dict[str, Any]]:
    """Every stored selection: ``{absolute_prompt_path: {"invoker" | "connection": ...}}``."""
    selections: dict[str, dict[str, Any]] = read_store()["selections"]
    return selections


# -- resolution for one run -------------------------------------------------------------


@dataclass(frozen=True)
class RunChoice:
    """What ``execute`` runs: the invoker, the stored configuration, the connection used."""

    invoker: str
    configuration: dict[str, Any] | None = None
    connection: str | None = None


def _no_connection(name: str, data: Mapping[str, Any]) -> str:
    known = ", ".join(sorted(data["connections"])) or "none yet"
    return (
        f"There is no connection named {name!r} (known: {known}). Create it in the sidebar "
        "or with jupyter_invoker.invokers.save_connection(), or pick another."
    )


def _connection(data: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    connection = data["connections"].get(name)
    if connection is None:
        raise InvokerConfigError(
            f"The selection for {where} names connection {name!r}, which no longer exists. "
            + _no_connection(name, data)
        )
    return dict(connection)


def resolve_run(
    prompt_path: str | os.PathLike[str],
    explicit: str | None,
    *,
    written: str,
    has_own_configuration: bool,
    store: Mapping[str, Any] | None = None,
    resolved: bool = False,
) -> RunChoice:
    """The invoker and stored configuration for one run (one read of the store).

    ``store``: data already read with ``read_store()`` (the server's listing reads once);
    ``resolved``: ``prompt_path`` is already absolute with symlinks resolved.
    """
    data = read_store() if store is None else store
    key = os.fspath(prompt_path) if resolved else selection_key(prompt_path)
    entry: dict[str, Any] | None
    if explicit:
        if explicit in data["connections"] and explicit.lower() not in InvokerFactory.names():
            entry = {"connection": explicit}
        else:
            entry = {"invoker": explicit}
    else:
        entry = data["selections"].get(key)
    if entry is not None and "connection" in entry:
        connection = _connection(data, entry["connection"], key)
        return RunChoice(
            invoker=InvokerFactory.canonical_name(connection["invoker"]),
            configuration=dict(connection.get("configuration") or {}),
            connection=str(entry["connection"]),
        )
    name = InvokerFactory.canonical_name(entry["invoker"] if entry else written)
    stored = entry.get("configuration") if entry else None
    if stored:
        return RunChoice(invoker=name, configuration=dict(stored))
    default = data["defaults"].get(name)
    same_backend = name == InvokerFactory.canonical_name(written)
    if default and not (has_own_configuration and same_backend):
        connection = data["connections"].get(default)
        if connection is None:
            raise InvokerConfigError(
                f"The default connection for {name!r} is {default!r}, which no longer exists. "
                + _no_connection(default, data)
            )
        return RunChoice(
            invoker=name,
            configuration=dict(connection.get("configuration") or {}),
            connection=default,
        )
    return RunChoice(invoker=name)
