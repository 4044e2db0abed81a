"""The REST handlers (``APIHandler`` + ``@tornado.web.authenticated``); see ``server``.

    web_app.add_handlers(".*$", routes(base_url))

Each handler parses and checks the request, calls the store / discovery functions
on a worker thread (file locks and directory walks never block the event loop),
and answers JSON. Errors answer ``{"message": ..., "reason": ...}`` with 400 (a bad
request: a literal key, an unknown invoker, a malformed store, a body that is not a
JSON object or nests deeper than ``_BODY_DEPTH``), 403 (a path out of the root), 404
(no such prompt or connection), 409 (a connection that exists) or 413 (a body over
``_BODY_MAX`` bytes). Every body is parsed by ``_Handler.body`` alone.
The heavy modules (prompt loading, invokers) are imported on the first request,
not when the server starts.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import re
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ._paths import PathRefused, prompt_file

__all__ = ["NAMESPACE", "ROOT_SETTING", "routes"]

NAMESPACE = "jupyter-invoker"
ROOT_SETTING = "jupyter_invoker_root"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BODY_MAX = 256 * 1024
_BODY_DEPTH = 32  # objects/lists inside each other; a connection needs 3
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")

T = TypeVar("T")
Method = Callable[..., Awaitable[None]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_IMPORT_LOCK = threading.Lock()
_imported = False


def import_invoker_layer() -> None:
    """Import the invoker layer once, under a lock, before any request uses it.

    Handlers work in worker threads; two of them importing the package at the same time
    (the sidebar asks for prompts and invokers at once) can meet a module half
    initialised and fail with an ImportError — seen in CI on a cold server.
    """
    global _imported
    if _imported:
        return
    with _IMPORT_LOCK:
        if not _imported:
            importlib.import_module("jupyter_invoker.prompty")
            for name in ("_store", "_selection", "_connections", "_status"):
                importlib.import_module(f"jupyter_invoker.invokers.{name}")
            _imported = True


def _answers(method: Method) -> Method:
    """Map refusals and the package's errors to JSON answers (never a traceback)."""

    @functools.wraps(method)
    async def wrapper(self: _Handler, *args: Any) -> None:
        from ..exceptions import JupyterInvokerError

        if not _imported:  # once per server, off the event loop
            await asyncio.to_thread(import_invoker_layer)
        try:
            await method(self, *args)
        except (_Refused, PathRefused) as exc:
            self.refuse(exc.status, exc.message)
        except JupyterInvokerError as exc:  # a literal key, a malformed store, ...
            self.refuse(400, str(exc))

    return wrapper


class _Handler(APIHandler):  # type: ignore[misc]
    """Shared helpers: the root, JSON in and out, work off the event loop."""

    @property
    def root(self) -> Path:
        root: Path = self.settings[ROOT_SETTING]
        return root

    def answer(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": self._reason}))

    def body(self) -> dict[str, Any]:
        """The request's JSON object; a literal key anywhere in it is refused."""
        from ..invokers._store import check_configuration

        raw = self.request.body or b"{}"
        if len(raw) > _BODY_MAX:
            raise _Refused(413, "The request body is too large; send at most 256 KiB of JSON.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refused(400, f"The request body is not UTF-8 JSON ({exc}).") from None
        _check_depth(text)
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _Refused(400, f"The request body is not valid JSON ({exc}).") from None
        if not isinstance(data, dict):
            raise _Refused(400, "The request body must be a JSON object.")
        check_configuration(data, "This request")  # literal keys: refused, never echoed
        return data

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def prompt(self, path: str) -> tuple[str, Path]:
        real = prompt_file(self.root, path)
        if not real.is_file():
            raise _Refused(404, f"There is no prompt file {path!r} under the server root.")
        return path, real


def _check_depth(text: str) -> None:
    """Refuse JSON nested deeper than ``_BODY_DEPTH`` before parsing it (no RecursionError)."""
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub('""', text)):
        depth = depth + 1 if bracket in "[{" else depth - 1
        if depth > _BODY_DEPTH:
            raise _Refused(
                400,
                f"The request body nests objects or lists more than {_BODY_DEPTH} deep; "
                "send a JSON object of connection or selection fields.",
            )


def _known_invokers() -> set[str]:
    from ..invokers import InvokerFactory
    from ..invokers._status import live_kernel_invokers

    return set(InvokerFactory.names()) | set(live_kernel_invokers())


def _check_invoker(name: Any) -> str:
    from ..invokers import InvokerFactory
    from ..invokers._store import check_name

    check_name(name, "Invoker")
    known = _known_invokers()
    if name.lower() not in known:
        raise _Refused(
            400,
            f"No invoker is registered under {name!r}. Known invokers: {', '.join(sorted(known))}.",
        )
    return InvokerFactory.canonical_name(name)


# -- prompts ---------------------------------------------------------------------------------


def _list_prompts(root: Path) -> dict[str, Any]:
    from ..invokers._store import read_store
    from ._discovery import discover, key_named_values, summary

    store = read_store()
    found = discover(root)
    key_named = key_named_values()  # once per listing, not once per prompt
    rows = [summary(rel, real, store, key_named) for rel, real in found.paths]
    return {"root": root.name, "prompts": rows, "truncated": found.truncated}


def _one_prompt(rel: str, real: Path) -> dict[str, Any]:
    from ..invokers._store import read_store
    from ._discovery import details

    return details(rel, real, read_store())


class PromptsHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self) -> None:
        self.answer(await self.off_loop(_list_prompts, self.root))


class PromptHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self, path: str) -> None:
        rel, real = self.prompt(path)
        self.answer(await self.off_loop(_one_prompt, rel, real))


# -- invokers --------------------------------------------------------------------------------


def _invokers() -> dict[str, Any]:
    from ..invokers._status import invoker_statuses

    return {"invokers": [status.to_json() for status in invoker_statuses()]}


class InvokersHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self) -> None:
        self.answer(await self.off_loop(_invokers))


# -- selections ------------------------------------------------------------------------------


def _selection_json(rel: str, real: Path) -> dict[str, Any]:
    from ..invokers._selection import selection

    entry = selection(real) or {}
    return {"path": rel, "invoker": entry.get("invoker"), "connection": entry.get("connection")}


def _put_selection(rel: str, real: Path, body: dict[str, Any]) -> dict[str, Any]:
    from ..invokers._selection import select_connection, select_invoker

    invoker, connection = body.get("invoker"), body.get("connection")
    if (invoker is None) == (connection is None):
        raise _Refused(
            400,
            'Send exactly one of {"invoker": NAME} or {"connection": NAME} to select how '
            "this prompt runs (DELETE clears the selection).",
        )
    if connection is not None:
        select_connection(real, connection)
    else:
        configuration = body.get("configuration")
        if configuration is not None and not isinstance(configuration, dict):
            raise _Refused(400, "`configuration` must be a JSON object of connection fields.")
        select_invoker(real, _check_invoker(invoker), configuration=configuration)
    return _selection_json(rel, real)


class SelectionHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self, path: str) -> None:
        rel, real = self.prompt(path)
        self.answer(await self.off_loop(_selection_json, rel, real))

    @tornado.web.authenticated
    @_answers
    async def put(self, path: str) -> None:
        rel, real = self.prompt(path)
        self.answer(await self.off_loop(_put_selection, rel, real, self.body()))

    @tornado.web.authenticated
    @_answers
    async def delete(self, path: str) -> None:
        from ..invokers._selection import clear_selection

        # The file may be gone already: a selection of a deleted prompt can still be cleared.
        real = prompt_file(self.root, path)
        await self.off_loop(clear_selection, real)
        self.set_status(204)
        self.finish()


# -- connections -----------------------------------------------------------------------------


def _connection_reply(connection: dict[str, Any], defaults: dict[str, str]) -> dict[str, Any]:
    from ..invokers._connections import connection_json

    return {
        **connection_json(connection),
        "default": defaults.get(str(connection["invoker"])) == connection["name"],
    }


def _list_connections() -> dict[str, Any]:
    from ..invokers._connections import defaults, list_connections

    chosen = defaults()
    rows = [_connection_reply(c, chosen) for c in list_connections()]
    return {"connections": rows, "defaults": chosen}


def _get_connection(name: str) -> dict[str, Any]:
    from ..invokers._connections import defaults, get_connection

    connection = get_connection(name)
    if connection is None:
        raise _Refused(404, f"There is no connection named {name!r}.")
    return _connection_reply(connection, defaults())


def _save_connection(url_name: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from ..invokers._connections import (
        clear_default,
        defaults,
        get_connection,
        save_connection,
        set_default,
    )
    from ..invokers._store import check_name

    name = check_name(body.get("name", url_name), "Connection")
    invoker = _check_invoker(body.get("invoker"))
    configuration = body.get("configuration") or {}
    if not isinstance(configuration, dict):
        raise _Refused(400, "`configuration` must be a JSON object of connection fields.")
    configuration = dict(configuration)
    key_env = body.get("key_env")
    if key_env:
        if not isinstance(key_env, str) or not _ENV_NAME.match(key_env):
            raise _Refused(
                400,
                f"`key_env` must be the name of an environment variable (e.g. OPENAI_API_KEY), "
                f"not {key_env!r}.",
            )
        configuration["key" if invoker == "serverless" else "api_key"] = f"${{env:{key_env}}}"
    if url_name is None:
        if get_connection(name) is not None:
            raise _Refused(
                409, f"A connection named {name!r} already exists; edit it or choose another name."
            )
        save_connection(name, invoker, configuration, create=True)
        status = 201
    else:
        save_connection(name, invoker, configuration, create=None, previous=url_name)
        status = 200
    wanted = body.get("default")
    if wanted is True:
        set_default(invoker, name)
    elif wanted is False and defaults().get(invoker) == name:
        clear_default(invoker)
    return status, _get_connection(name)


class ConnectionsHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self) -> None:
        self.answer(await self.off_loop(_list_connections))

    @tornado.web.authenticated
    @_answers
    async def post(self) -> None:
        status, reply = await self.off_loop(_save_connection, None, self.body())
        self.answer(reply, status)


class ConnectionHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self, name: str) -> None:
        self.answer(await self.off_loop(_get_connection, name))

    @tornado.web.authenticated
    @_answers
    async def put(self, name: str) -> None:
        from ..invokers._connections import get_connection

        if await self.off_loop(get_connection, name) is None:
            raise _Refused(404, f"There is no connection named {name!r} to change.")
        _, reply = await self.off_loop(_save_connection, name, self.body())
        self.answer(reply)

    @tornado.web.authenticated
    @_answers
    async def delete(self, name: str) -> None:
        from ..invokers._connections import delete_connection

        if not await self.off_loop(delete_connection, name):
            raise _Refused(404, f"There is no connection named {name!r}.")
        self.set_status(204)
        self.finish()


class ConnectionTestHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def post(self, name: str) -> None:
        from ..invokers._connections import get_connection
        from ._probe import probe_connection

        self.body()  # refuses a literal key even here
        connection = await self.off_loop(get_connection, name)
        if connection is None:
            raise _Refused(404, f"There is no connection named {name!r} to test.")
        self.answer(await probe_connection(connection))


def routes(base_url: str) -> list[tuple[str, type[_Handler]]]:
    """The handlers of the module docstring of ``server``, under ``base_url``."""
    prefix = url_path_join(base_url, NAMESPACE)
    return [
        (url_path_join(prefix, "prompts"), PromptsHandler),
        (url_path_join(prefix, "prompts", "(.+)"), PromptHandler),
        (url_path_join(prefix, "invokers"), InvokersHandler),
        (url_path_join(prefix, "selections", "(.+)"), SelectionHandler),
        (url_path_join(prefix, "connections"), ConnectionsHandler),
        (url_path_join(prefix, "connections", "([^/]+)", "test"), ConnectionTestHandler),
        (url_path_join(prefix, "connections", "([^/]+)"), ConnectionHandler),
    ]
