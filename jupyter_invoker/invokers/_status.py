"""Which invokers exist and whether each has what it needs: ``%invoker list`` and the sidebar.

    for status in invoker_statuses():
        print(status.name, status.kind, status.ready, status.needs)
    # local builtin True []
    # openai builtin False ['OPENAI_API_KEY']
    configuration_needs("serverless", {"endpoint": "http://127.0.0.1:8000/v1", "model": "m"})
    # []

``kind`` is ``builtin`` (local, openai, azure, serverless; aliases such as
``azure_openai`` and ``huggingface`` are listed in ``aliases`` of their target, not on
their own), ``entry_point`` (a package's ``jupyter_invoker.invokers`` entry point),
``registered`` (``InvokerFactory.register`` in this process) or ``kernel`` (registered
in another live process, a Jupyter kernel, and recorded in the store by ``_kernels``).

``needs`` lists what is missing, never a value: an environment variable's NAME
(``OPENAI_API_KEY``), ``configuration.<field>`` for a field nothing provides
(``configuration.endpoint``), or ``package:<module>`` for a missing package.
For a built-in with a default connection (``defaults`` in the store) the
connection's configuration is what is checked.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The kernel record's names, still importable from here.
from ._kernels import RECORD_ENV, forget_kernel_invoker, live_kernel_invokers, record_kernel_invoker
from ._registry import InvokerFactory
from ._store import ENV_REFERENCE, is_secret_field, read_store

__all__ = [
    "RECORD_ENV",
    "InvokerStatus",
    "configuration_needs",
    "forget_kernel_invoker",
    "invoker_statuses",
    "known_invokers",
    "live_kernel_invokers",
    "record_kernel_invoker",
]

# (configuration fields that provide it, environment variable used when none does)
_ENV_FALLBACKS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "openai": [(("api_key", "apiKey"), "OPENAI_API_KEY")],
    "azure": [
        (("azure_endpoint", "endpoint", "azureEndpoint"), "AZURE_OPENAI_ENDPOINT"),
        (("api_key", "apiKey"), "AZURE_OPENAI_API_KEY"),
    ],
}
# Fields with no environment fallback: checked for prompts and connections.
_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "openai": [("name", "model")],
    "azure": [("azure_deployment", "deployment", "azureDeployment", "name", "model")],
    "serverless": [("endpoint", "base_url"), ("model", "name")],
}
# Fields needed even before a prompt says anything (serverless has no default endpoint).
_INVOKER_FIELDS: dict[str, list[tuple[str, ...]]] = {"serverless": [("endpoint", "base_url")]}
_PACKAGES: dict[str, tuple[str, ...]] = {
    "local": ("torch", "transformers"),
    "openai": ("openai",),
    "azure": ("openai",),
    "serverless": ("openai",),
}


@dataclass(frozen=True)
class InvokerStatus:
    """One row of ``invoker_statuses()``; ``to_json()`` is the REST shape."""

    name: str
    kind: str
    ready: bool
    needs: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    default_connection: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ready": self.ready,
            "needs": list(self.needs),
            "aliases": list(self.aliases),
            "default_connection": self.default_connection,
        }


def _env_var(value: Any) -> str | None:
    """The variable of a ``${env:VAR}`` (no default) reference, else None."""
    match = ENV_REFERENCE.match(value.strip()) if isinstance(value, str) else None
    return match.group(1) if match else None


def _provided(config: Mapping[str, Any], names: tuple[str, ...], needs: list[str]) -> bool:
    """Whether one of ``names`` has a value; an unset ``${env:VAR}`` adds VAR to ``needs``."""
    for name in names:
        value = config.get(name)
        if value is None or value == "":
            continue
        variable = _env_var(value)
        if variable is not None and not os.environ.get(variable):
            if variable not in needs:
                needs.append(variable)
            return True  # provided, but by a variable that is unset: counted once
        return True
    return False


_FOUND: set[str] = set()  # only positives: a package installed later is still seen


def _installed(module: str) -> bool:
    if module not in _FOUND and importlib.util.find_spec(module) is not None:
        _FOUND.add(module)
    return module in _FOUND


def configuration_needs(
    kind: str,
    configuration: Mapping[str, Any] | None = None,
    *,
    fields: bool = True,
) -> list[str]:
    """What running invoker ``kind`` with ``configuration`` lacks (see the module docstring).

    ``fields=False`` skips the per-prompt fields (model / deployment names).
    """
    config = dict(configuration or {})
    needs: list[str] = []
    kind = _canonical(kind)
    for module in _PACKAGES.get(kind, ()):
        if not _installed(module):
            needs.append(f"package:{module}")
    for name, value in config.items():  # unset variables anywhere, keys first
        variable = _env_var(value)
        if variable and is_secret_field(name) and not os.environ.get(variable):
            needs.append(variable)
    for names, variable in _ENV_FALLBACKS.get(kind, []):
        if kind == "openai" and config.get("base_url"):
            continue  # a self-hosted OpenAI-compatible server may need no key
        if not _provided(config, names, needs) and not os.environ.get(variable):
            needs.append(variable)
    for names in (_FIELDS if fields else _INVOKER_FIELDS).get(kind, []):
        if not _provided(config, names, needs):
            needs.append(f"configuration.{names[0]}")
    return list(dict.fromkeys(needs))


# -- the listing -----------------------------------------------------------------------------


def _canonical(kind: str) -> str:
    try:
        return InvokerFactory.canonical_name(kind)
    except Exception:  # not a valid name: nothing is known of it
        return kind


def known_invokers(store: Mapping[str, Any] | None = None) -> set[str]:
    """Every name a prompt can run on now: registered here (aliases included), an entry
    point, or registered in a live kernel."""
    return set(InvokerFactory.names()) | set(live_kernel_invokers(store))


def invoker_statuses(store: Mapping[str, Any] | None = None) -> list[InvokerStatus]:
    """Every invoker that can be selected now, sorted by name (re-reads the store)."""
    data = read_store() if store is None else store
    connections: Mapping[str, Any] = data["connections"]
    defaults: Mapping[str, str] = data["defaults"]
    snapshot = InvokerFactory.snapshot()
    by_target: dict[str, list[str]] = {}
    for alias, target in snapshot.aliases.items():
        by_target.setdefault(target, []).append(alias)
    rows: dict[str, InvokerStatus] = {}

    def add(name: str, kind: str, needs: list[str], default: str | None = None) -> None:
        rows[name] = InvokerStatus(
            name=name,
            kind=kind,
            ready=not needs,
            needs=needs,
            aliases=sorted(by_target.get(name, [])),
            default_connection=default,
        )

    for name in snapshot.invokers:
        default = defaults.get(name)
        connection = connections.get(default) if default else None
        if name in snapshot.builtin:
            config = connection.get("configuration") if connection else None
            needs = configuration_needs(
                connection["invoker"] if connection else name, config, fields=False
            )
            add(name, "builtin", needs, default if connection else None)
        else:
            add(name, "registered", [], default if connection else None)
    for name, value in snapshot.entry_points.items():
        module = value.partition(":")[0].strip()
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        add(name, "entry_point", [] if found else [f"package:{module}"])
    for name in live_kernel_invokers(data):
        if name not in rows:
            add(name, "kernel", [])
    return [rows[name] for name in sorted(rows)]
