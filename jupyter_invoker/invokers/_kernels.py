"""The kernels' record of the invokers they registered, kept in the store for the sidebar.

    record_kernel_invoker("custom", "__main__:CustomInvoker")   # InvokerFactory.register
    live_kernel_invokers()     # {"custom": [4242]}: names whose process is still alive
    forget_kernel_invoker("custom")                             # InvokerFactory.unregister

A process where ``ipykernel`` runs (or ``JUPYTER_INVOKER_RECORD_REGISTRATIONS=1``;
``0`` turns it off) records each name it registers in the store's
``kernel_invokers`` with its pid, so the server can offer an invoker defined in a
notebook; entries whose processes have all ended are dropped on the next write and
never listed. Recording is best effort: a store that cannot be written only logs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from ..exceptions import InvokerConfigError
from ._store import edit_store, read_store

__all__ = ["RECORD_ENV", "forget_kernel_invoker", "live_kernel_invokers", "record_kernel_invoker"]

log = logging.getLogger("jupyter_invoker.invokers")

RECORD_ENV = "JUPYTER_INVOKER_RECORD_REGISTRATIONS"


def _recording() -> bool:
    flag = os.environ.get(RECORD_ENV)
    if flag is not None:
        return flag.strip() not in {"", "0", "false", "no"}
    return "ipykernel" in sys.modules


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _other_live(entry: Mapping[str, Any]) -> list[int]:
    """The pids of ``entry`` that are running processes other than this one."""
    return [p for p in entry["pids"] if p != os.getpid() and _alive(p)]


def record_kernel_invoker(name: str, target: str) -> None:
    """Note in the store that this process registered ``name`` (best effort, never raises)."""
    if not _recording():
        return
    try:
        with edit_store() as data:
            section = data["kernel_invokers"]
            entry = section.get(name) or {"pids": []}
            section[name] = {"pids": [*_other_live(entry), os.getpid()], "class": target}
            for other in [n for n, e in section.items() if not any(map(_alive, e["pids"]))]:
                del section[other]
    except (InvokerConfigError, OSError) as exc:
        log.warning("Could not record invoker %r for the sidebar: %s", name, exc)


def forget_kernel_invoker(name: str) -> None:
    """Remove this process from ``name``'s record (best effort, never raises)."""
    if not _recording():
        return
    try:
        with edit_store() as data:
            entry = data["kernel_invokers"].get(name)
            if entry is not None:
                pids = _other_live(entry)
                if pids:
                    entry["pids"] = pids
                else:
                    del data["kernel_invokers"][name]
    except (InvokerConfigError, OSError) as exc:
        log.warning("Could not update invoker %r for the sidebar: %s", name, exc)


def live_kernel_invokers(store: Mapping[str, Any] | None = None) -> dict[str, list[int]]:
    """``{name: [live pids]}`` of names registered by other running processes."""
    data = read_store() if store is None else store
    found: dict[str, list[int]] = {}
    for name, entry in data["kernel_invokers"].items():
        if pids := _other_live(entry):
            found[name] = pids
    return found
