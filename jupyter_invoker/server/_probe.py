"""``POST /connections/<name>/test``: the smallest real request through a connection.

    result = await probe_connection(get_connection("local-serve"))
    # {"ok": True, "invoker": "serverless", "connection": "local-serve", "model": "m",
    #  "elapsed_s": 0.41, "text": "Paris"}
    # {"ok": False, "invoker": "serverless", "connection": "local-serve",
    #  "error": "The serverless invoker could not connect to http://127.0.0.1:9/v1 ..."}

One chat message ("Reply with OK."), ``max_tokens`` 1, temperature 0, no retries,
at most ``TIMEOUT_S`` seconds in all (the connection's own ``timeout`` may only
lower it). It runs on the server's event loop without blocking it: the OpenAI-family
clients are async; a sync-only invoker runs on a worker thread. Errors are the
invokers' mapped messages (which invoker, which endpoint, what to do; keys
redacted). A ``local`` connection is checked without loading a model in the server
(packages present, the model path exists): ``checked`` says so.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._secrets import redact
from ..exceptions import JupyterInvokerError
from ..invokers import InvokerFactory
from ..invokers._status import configuration_needs
from ..invokers._store import ENV_REFERENCE
from ..prompty import Prompty

__all__ = ["TIMEOUT_S", "probe_connection"]

TIMEOUT_S = 30.0  # a small CPU model on a busy machine can take 10 s to answer
_MESSAGE = [{"role": "user", "content": "Reply with OK."}]


def _secrets(connection: Mapping[str, Any]) -> list[str]:
    """The values of the variables the connection references: redacted from any error."""
    found = []
    for value in (connection.get("configuration") or {}).values():
        match = ENV_REFERENCE.match(value) if isinstance(value, str) else None
        if match and os.environ.get(match.group(1)):
            found.append(os.environ[match.group(1)])
    return found


def _run_prompt(connection: Mapping[str, Any]) -> tuple[Prompty, float]:
    config = dict(connection.get("configuration") or {})
    timeout = config.get("timeout")
    limit = TIMEOUT_S
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        limit = min(float(timeout), TIMEOUT_S)
    config.update({"timeout": limit, "connect_timeout": min(5.0, limit), "max_retries": 0})
    base = Prompty(path=Path(f"connection {connection['name']}"), template="user:\nReply with OK.")
    return base.with_overrides(
        invoker=str(connection["invoker"]),
        configuration=config,
        parameters={"max_tokens": 1, "temperature": 0},
    ), limit


def _check_local(connection: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(connection.get("configuration") or {})
    needs = configuration_needs(str(connection["invoker"]), config)
    model = config.get("model")
    local_path = isinstance(model, str) and model.startswith((".", "/", "~"))
    if local_path and not Path(str(model)).expanduser().exists():
        needs.append("configuration.model")
    if needs:
        return {
            "ok": False,
            "error": f"The {connection['invoker']} connection {connection['name']!r} lacks "
            f"{', '.join(needs)}; install or set it and test again.",
        }
    return {"ok": True, "model": model or "the embedded default model", "checked": "setup only"}


async def probe_connection(connection: Mapping[str, Any]) -> dict[str, Any]:
    """Run the probe (see the module docstring); never raises for a failed request."""
    kind = str(connection["invoker"])
    head = {"invoker": kind, "connection": connection["name"]}
    started = time.perf_counter()
    if InvokerFactory.is_local(kind):
        return {**head, **_check_local(connection), "elapsed_s": time.perf_counter() - started}
    try:
        prompty, limit = _run_prompt(connection)
        result = await asyncio.wait_for(
            InvokerFactory.call_async(kind, prompty, list(_MESSAGE)), timeout=limit + 1.0
        )
    except asyncio.TimeoutError:
        return {
            **head,
            "ok": False,
            "error": f"The {kind} connection {connection['name']!r} did not answer within "
            f"{TIMEOUT_S:g} s; check that its endpoint is up.",
        }
    except JupyterInvokerError as exc:
        return {**head, "ok": False, "error": redact(str(exc), *_secrets(connection))}
    except Exception as exc:  # a third-party invoker's own failure: named, not a 500
        message = f"The {kind} invoker failed: {type(exc).__name__}: {exc}"
        return {**head, "ok": False, "error": redact(message, *_secrets(connection))}
    text = getattr(result, "text", result)
    return {
        **head,
        "ok": True,
        "model": getattr(result, "model", None),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "text": str(text)[:200],
    }
