"""Named connections and per-invoker defaults, kept in the shared store.

    save_connection("local-serve", "serverless",
                    {"endpoint": "http://127.0.0.1:8000/v1", "model": "m",
                     "key": "${env:SERVE_KEY}"})
    set_default("serverless", "local-serve")     # used where a prompt has none of its own
    get_connection("local-serve")                # {"name": ..., "invoker": ..., "configuration": ...}
    list_connections()                           # every connection, sorted by name
    delete_connection("local-serve")             # also drops defaults / selections naming it

A connection is a name, an invoker and its configuration (Prompty's field names for
that invoker: endpoint, deployment or model, API version...). The key is only ever
the name of an environment variable, ``${env:VAR}``: a literal key is refused
(``InvokerConfigError``) and never written. ``connection_json`` is the shape the
server returns: the configuration as stored (references, never values) plus
``key_set`` (every key variable it names is set here) and ``needs``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..exceptions import InvokerConfigError
from ._registry import InvokerFactory
from ._status import configuration_needs
from ._store import (
    ENV_REFERENCE,
    check_configuration,
    check_name,
    edit_store,
    is_secret_field,
    read_store,
)

__all__ = [
    "clear_default",
    "connection_json",
    "defaults",
    "delete_connection",
    "get_connection",
    "list_connections",
    "save_connection",
    "set_default",
]


def _canonical(invoker: str) -> str:
    check_name(invoker, "Invoker")
    return InvokerFactory.canonical_name(invoker)


def save_connection(
    name: str,
    invoker: str,
    configuration: Mapping[str, Any] | None = None,
    *,
    create: bool | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """Create or replace connection ``name``; returns what was stored.

    ``create=True`` refuses to replace an existing one, ``create=False`` refuses to
    create a new one; ``None`` (default) does either. ``previous``: the connection's
    old name (a rename): it is removed, and defaults and selections naming it follow.
    """
    check_name(name, "Connection")
    kind = _canonical(invoker)
    config = {
        key: value
        for key, value in check_configuration(
            configuration or {}, f"The connection {name!r}"
        ).items()
        if key != "type"  # the invoker field says it; two sources could disagree
    }
    entry = {"invoker": kind, "configuration": config}
    with edit_store() as data:
        exists = name in data["connections"]
        if create is True and exists:
            raise InvokerConfigError(
                f"A connection named {name!r} already exists; edit it or choose another name."
            )
        if create is False and not exists:
            raise InvokerConfigError(
                f"There is no connection named {name!r} to change; create it first."
            )
        if previous is not None and previous != name:
            if exists:
                raise InvokerConfigError(
                    f"Cannot rename {previous!r} to {name!r}: a connection named {name!r} "
                    "already exists. Choose another name."
                )
            data["connections"].pop(previous, None)
            for invoker, chosen in list(data["defaults"].items()):
                if chosen == previous:
                    data["defaults"][invoker] = name
            for selected in data["selections"].values():
                if selected.get("connection") == previous:
                    selected["connection"] = name
        data["connections"][name] = entry
        for other_kind in [k for k, v in data["defaults"].items() if v == name and k != kind]:
            del data["defaults"][other_kind]  # its invoker changed: no longer a default there
    return {"name": name, **entry}


def get_connection(name: str) -> dict[str, Any] | None:
    """``{"name", "invoker", "configuration"}`` of connection ``name``, or ``None``."""
    entry = read_store()["connections"].get(name)
    return None if entry is None else {"name": name, **entry}


def list_connections() -> list[dict[str, Any]]:
    """Every connection, sorted by name."""
    connections = read_store()["connections"]
    return [{"name": name, **connections[name]} for name in sorted(connections)]


def delete_connection(name: str) -> bool:
    """Remove connection ``name`` and every default or selection naming it; False if absent."""
    with edit_store() as data:
        if data["connections"].pop(name, None) is None:
            return False
        for kind in [k for k, v in data["defaults"].items() if v == name]:
            del data["defaults"][kind]
        for key in [k for k, v in data["selections"].items() if v.get("connection") == name]:
            del data["selections"][key]
    return True


def defaults() -> dict[str, str]:
    """``{invoker: connection name}``: the connection used where a prompt has none."""
    return dict(read_store()["defaults"])


def set_default(invoker: str, connection: str) -> None:
    """Use ``connection`` for invoker ``invoker`` where a prompt has no configuration of its own."""
    kind = _canonical(invoker)
    with edit_store() as data:
        entry = data["connections"].get(connection)
        if entry is None:
            raise InvokerConfigError(
                f"There is no connection named {connection!r}; create it before making it "
                f"the default for {kind!r}."
            )
        if entry["invoker"] != kind:
            raise InvokerConfigError(
                f"Connection {connection!r} is for the {entry['invoker']!r} invoker, so it "
                f"cannot be the default for {kind!r}; pick a {kind!r} connection."
            )
        data["defaults"][kind] = connection


def clear_default(invoker: str) -> None:
    """Forget the default connection for ``invoker`` (no error if there is none)."""
    kind = _canonical(invoker)
    with edit_store() as data:
        data["defaults"].pop(kind, None)


def connection_json(connection: Mapping[str, Any]) -> dict[str, Any]:
    """The REST shape of a stored connection: references only, plus ``key_set``/``needs``."""
    config: dict[str, Any] = dict(connection.get("configuration") or {})
    variables = [
        match.group(1)
        for key, value in config.items()
        if is_secret_field(key)
        and isinstance(value, str)
        and (match := ENV_REFERENCE.match(value)) is not None
    ]
    needs = configuration_needs(str(connection["invoker"]), config)
    return {
        "name": connection["name"],
        "invoker": connection["invoker"],
        "configuration": config,
        "key_env": variables[0] if variables else None,
        "key_set": bool(variables) and all(os.environ.get(v) for v in variables),
        "ready": not needs,
        "needs": needs,
    }
