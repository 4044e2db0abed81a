"""The REST handlers (``APIHandler`` + ``@tornado.web.authenticated``); see ``server``.

    web_app.add_handlers(".*$", routes(base_url))

Each handler parses and checks the request, calls the store / discovery functions
on a worker thread (file locks, directory walks and renders never block the event
loop), and answers strict JSON (never ``NaN`` or ``Infinity``). Errors answer
``{"message": ..., "reason": ...}`` with 400 (a bad request: a literal key, an
unknown invoker, a malformed or unreadable store, a body that is not a JSON object,
holds a non-finite number or nests too deep: ``_requests``), 403 (a path out of
the root), 404 (no such prompt or connection, or a hidden one while the server's
``allow_hidden`` is off, as ``/api/contents`` answers), 409 (a connection that
exists), 413 (a body over ``_BODY_MAX`` bytes) or 500 (anything unforeseen: a
sentence, no traceback). Every body is parsed by ``_Handler.body`` alone.

The prompt and invoker layers are imported here, at the top, when the server loads
the extension (one thread, before any request): two cold requests on worker threads
once met a half-initialised package when these imports were deferred.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..exceptions import JupyterInvokerError
from ..invokers import InvokerFactory
from ..invokers._connections import (
    clear_default,
    connection_json,
    defaults,
    delete_connection,
    get_connection,
    list_connections,
    save_connection,
    set_default,
)
from ..invokers._selection import (
    clear_selection,
    select_connection,
    select_invoker,
    selection,
)
from ..invokers._status import invoker_statuses, known_invokers
from ..invokers._store import check_name
from ._discovery import discover
from ._listing import ListingContext, details, summary
from ._paths import PathRefused, is_hidden, prompt_file, shortened
from ._probe import probe_connection
from ._requests import Refused, parse_body

__all__ = ["EXCLUDE_SETTING", "NAMESPACE", "ROOT_SETTING", "routes"]

NAMESPACE = "jupyter-invoker"
ROOT_SETTING = "jupyter_invoker_root"
EXCLUDE_SETTING = "jupyter_invoker_exclude"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")
Method = Callable[..., Awaitable[None]]


def _answers(method: Method) -> Method:
    """Map refusals and the package's errors to JSON answers (never a traceback)."""

    @functools.wraps(method)
    async def wrapper(self: _Handler, *args: Any) -> None:
        try:
            await method(self, *args)
        except (Refused, PathRefused) as exc:
            self.refuse(exc.status, exc.message)
        except JupyterInvokerError as exc:  # a literal key, a malformed store, ...
            self.refuse(400, str(exc))
        except tornado.web.HTTPError:
            raise  # tornado's own (403 of @authenticated, ...)
        except Exception as exc:
            self.log.exception(
                "jupyter_invoker: %s %s failed", self.request.method, self.request.path
            )
            self.refuse(
                500,
                f"The jupyter_invoker extension could not answer this request "
                f"({type(exc).__name__}); the server's log has the details.",
            )

    return wrapper


class _Handler(APIHandler):  # type: ignore[misc]
    """Shared helpers: the root, JSON in and out, work off the event loop."""

    @property
    def root(self) -> Path:
        root: Path = self.settings[ROOT_SETTING]
        return root

    @property
    def exclude(self) -> list[str]:
        return list(self.settings.get(EXCLUDE_SETTING) or [])

    @property
    def allow_hidden(self) -> bool:
        return bool(getattr(self.contents_manager, "allow_hidden", False))

    def answer(self, body: Any, status: int = 200) -> None:
        text = json.dumps(body, allow_nan=False)  # strict JSON: a ValueError is a 500
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    def refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": self._reason}))

    def body(self) -> dict[str, Any]:
        """The request's JSON object (``_requests.parse_body``: strict, bounded, no key)."""
        return parse_body(self.request.body)

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def prompt_path(self, path: str) -> Path:
        """The real path of a prompt path from the URL; hidden ones only with allow_hidden."""
        real = prompt_file(self.root, path)
        if not self.allow_hidden and is_hidden(self.root, path, real):
            # As /api/contents answers for a hidden file: as if it were not there.
            raise Refused(
                404,
                f"There is no prompt file {shortened(path)!r} under the server root (hidden "
                "files and folders are not served while the server's allow_hidden is off).",
            )
        return real

    def prompt(self, path: str) -> tuple[str, Path]:
        real = self.prompt_path(path)
        try:
            found = real.is_file()
        except OSError:  # a name too long, a loop: not a file that can be served
            found = False
        if not found:
            raise Refused(
                404, f"There is no prompt file {shortened(path)!r} under the server root."
            )
        return path, real


def _check_invoker(name: Any) -> str:
    check_name(name, "Invoker")
    known = known_invokers()
    if name.lower() not in known:
        raise Refused(
            400,
            f"No invoker is registered under {name!r}. Known invokers: {', '.join(sorted(known))}.",
        )
    return InvokerFactory.canonical_name(name)


# -- prompts ---------------------------------------------------------------------------------


def _list_prompts(root: Path, exclude: list[str] | None = None) -> dict[str, Any]:
    context = ListingContext.now()  # once per listing, not once per prompt
    found = discover(root, exclude or [])
    rows = [summary(rel, real, context) for rel, real in found.paths]
    return {"root": root.name, "prompts": rows, "truncated": found.truncated}


def _one_prompt(rel: str, real: Path) -> dict[str, Any]:
    return details(rel, real, ListingContext.now())


class PromptsHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self) -> None:
        self.answer(await self.off_loop(_list_prompts, self.root, self.exclude))


class PromptHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self, path: str) -> None:
        rel, real = self.prompt(path)
        self.answer(await self.off_loop(_one_prompt, rel, real))


# -- invokers --------------------------------------------------------------------------------


def _invokers() -> dict[str, Any]:
    return {"invokers": [status.to_json() for status in invoker_statuses()]}


class InvokersHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def get(self) -> None:
        self.answer(await self.off_loop(_invokers))


# -- selections ------------------------------------------------------------------------------


def _selection_json(rel: str, real: Path) -> dict[str, Any]:
    entry = selection(real) or {}
    return {"path": rel, "invoker": entry.get("invoker"), "connection": entry.get("connection")}


def _put_selection(rel: str, real: Path, body: dict[str, Any]) -> dict[str, Any]:
    invoker, connection = body.get("invoker"), body.get("connection")
    if (invoker is None) == (connection is None):
        raise Refused(
            400,
            'Send exactly one of {"invoker": NAME} or {"connection": NAME} to select how '
            "this prompt runs (DELETE clears the selection).",
        )
    if connection is not None:
        select_connection(real, connection)
    else:
        configuration = body.get("configuration")
        if configuration is not None and not isinstance(configuration, dict):
            raise Refused(400, "`configuration` must be a JSON object of connection fields.")
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
        # The file may be gone already: a selection of a deleted prompt can still be cleared.
        real = self.prompt_path(path)
        await self.off_loop(clear_selection, real)
        self.set_status(204)
        self.finish()


# -- connections -----------------------------------------------------------------------------


def _connection_reply(connection: dict[str, Any], chosen: dict[str, str]) -> dict[str, Any]:
    return {
        **connection_json(connection),
        "default": chosen.get(str(connection["invoker"])) == connection["name"],
    }


def _list_connections() -> dict[str, Any]:
    chosen = defaults()
    rows = [_connection_reply(c, chosen) for c in list_connections()]
    return {"connections": rows, "defaults": chosen}


def _get_connection(name: str) -> dict[str, Any]:
    connection = get_connection(name)
    if connection is None:
        raise Refused(404, f"There is no connection named {name!r}.")
    return _connection_reply(connection, defaults())


def _save_connection(url_name: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    name = check_name(body.get("name", url_name), "Connection")
    invoker = _check_invoker(body.get("invoker"))
    configuration = body.get("configuration") or {}
    if not isinstance(configuration, dict):
        raise Refused(400, "`configuration` must be a JSON object of connection fields.")
    configuration = dict(configuration)
    key_env = body.get("key_env")
    if key_env:
        if not isinstance(key_env, str) or not _ENV_NAME.match(key_env):
            raise Refused(
                400,
                f"`key_env` must be the name of an environment variable (e.g. OPENAI_API_KEY), "
                f"not {key_env!r}.",
            )
        configuration["key" if invoker == "serverless" else "api_key"] = f"${{env:{key_env}}}"
    if url_name is None:
        if get_connection(name) is not None:
            raise Refused(
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
        if await self.off_loop(get_connection, name) is None:
            raise Refused(404, f"There is no connection named {name!r} to change.")
        _, reply = await self.off_loop(_save_connection, name, self.body())
        self.answer(reply)

    @tornado.web.authenticated
    @_answers
    async def delete(self, name: str) -> None:
        if not await self.off_loop(delete_connection, name):
            raise Refused(404, f"There is no connection named {name!r}.")
        self.set_status(204)
        self.finish()


class ConnectionTestHandler(_Handler):
    @tornado.web.authenticated
    @_answers
    async def post(self, name: str) -> None:
        self.body()  # refuses a literal key even here
        connection = await self.off_loop(get_connection, name)
        if connection is None:
            raise Refused(404, f"There is no connection named {name!r} to test.")
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
