"""The jupyter_server extension: the REST routes the prompts sidebar works through.

    jupyter server --ServerApp.jpserver_extensions="{'jupyter_invoker': True}"
    curl -H "Authorization: token $TOKEN" http://127.0.0.1:8888/jupyter-invoker/prompts

Enabled by ``jupyter-config/server-config/jupyter_invoker.json`` (installed into
``etc/jupyter/jupyter_server_config.d``); ``c.JupyterInvoker.exclude`` (shell globs)
keeps folders such as test fixtures out of the listing (:class:`JupyterInvoker`). Every route is under the server's base
URL, answers JSON, needs the server's token (``APIHandler`` +
``@tornado.web.authenticated``: 403 without it). ``<path>`` is a prompt path
relative to the server root (``/``-separated, URL-encoded per segment); ``..``,
absolute paths (400) and symbolic links out of the root (403) are refused; a
hidden file or folder answers 404 unless the server's ``allow_hidden`` is on (as
``/api/contents``). A literal key anywhere in a request body is refused (400, "use
``${env:VAR}``"), as is a number that is not finite (``1e999``, ``NaN``). No answer
ever holds a secret: keys appear only as ``${env:VAR}``, literal keys in a file as
``***``. Every answer is strict JSON. Errors: ``{"message", "reason"}`` with
400/403/404/409/413, 500 for the unforeseen (a sentence, never a traceback).

| route | method | answer |
|---|---|---|
| ``/jupyter-invoker/prompts`` | GET | ``{root, truncated, prompts: [Prompt]}`` |
| ``/jupyter-invoker/prompts/<path>`` | GET | ``Prompt`` + ``configuration``, ``parameters``, ``sample``, ``preview`` |
| ``/jupyter-invoker/invokers`` | GET | ``{invokers: [{name, kind, ready, needs, aliases, default_connection}]}`` |
| ``/jupyter-invoker/selections/<path>`` | GET | ``{path, invoker, connection}`` (both null: none) |
| | PUT | body ``{invoker}`` (+ optional ``configuration``) or ``{connection}``: the stored one |
| | DELETE | 204 |
| ``/jupyter-invoker/connections`` | GET | ``{connections: [Connection], defaults: {invoker: name}}`` |
| | POST | body ``{name, invoker, configuration, key_env?, default?}``: 201 ``Connection`` (409 if it exists) |
| ``/jupyter-invoker/connections/<name>`` | GET | ``Connection`` |
| | PUT | same body; ``name`` differing from ``<name>`` renames it (selections and defaults follow) |
| | DELETE | 204 (defaults and selections naming it go too) |
| ``/jupyter-invoker/connections/<name>/test`` | POST | ``{ok, invoker, connection, model, elapsed_s, text}`` or ``{ok: false, invoker, connection, error}`` |

``Prompt``: ``path``, ``folder``, ``name``, ``description``, ``api`` (chat |
completion), ``asks_for`` (the invoker its file names), ``selected`` (``{invoker,
connection}`` or null), ``inputs`` (``{name: {type, description, required,
default?}}``), ``error`` (null or the load error), and, for the sidebar's
status column: ``runs_on`` (``{invoker, connection}`` that would run it now: selection
> file, with the per-invoker default connection), ``ready`` (it would run now),
``needs`` (what it lacks), ``status_error`` (a selection naming a deleted connection), ``version`` (an
opaque string that changes when the file does, so a client knows its preview is stale;
null if the file cannot be read). ``preview``:
``{messages: [{role, content}], text (completion prompts), error}``.

``Connection``: ``name``, ``invoker``, ``configuration`` (as stored: the key as
``${env:VAR}``), ``key_env`` (that VAR or null), ``key_set`` (the variable is set in
the server's environment), ``ready``, ``needs``, ``default`` (it is its invoker's
default). In request bodies ``key_env: "VAR"`` is a shorthand for the invoker's key
field (``api_key``; ``key`` for serverless) = ``${env:VAR}``; ``default: true|false``
makes it (or stops it being) the default for its invoker.

``needs`` entries: an environment variable's NAME, ``configuration.<field>``,
``package:<module>`` (see ``jupyter_invoker.invokers._status``), or, for a prompt,
``invoker:<name>`` when no invoker of that name is registered (here, by a package's
entry point, or in a running kernel): running it would fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traitlets import List, Unicode
from traitlets.config import Configurable

from ._handlers import EXCLUDE_SETTING, NAMESPACE, ROOT_SETTING, routes

__all__ = ["JupyterInvoker", "_load_jupyter_server_extension"]


class JupyterInvoker(Configurable):  # type: ignore[misc]
    """The extension's settings, in the server's configuration.

    jupyter lab --JupyterInvoker.exclude=tests --JupyterInvoker.exclude=benchmarks
    # or, in jupyter_server_config.py:
    c.JupyterInvoker.exclude = ["tests", "docs/**", "*.draft.prompty"]
    """

    exclude = List(
        Unicode(),
        default_value=[],
        help=(
            "Folders and files the prompts sidebar does not list: shell globs on the path "
            "relative to the server root (tests/fixtures, **/drafts); a pattern without '/' "
            "matches that name at any depth (tests). Excluded folders are not walked."
        ),
    ).tag(config=True)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the routes to a running ``ServerApp`` (jupyter_server calls this)."""
    settings = JupyterInvoker(config=serverapp.config)
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    web_app.settings[ROOT_SETTING] = Path(serverapp.root_dir).expanduser().resolve()
    web_app.settings[EXCLUDE_SETTING] = list(settings.exclude)
    web_app.add_handlers(".*$", routes(base_url))
    serverapp.log.info("jupyter_invoker: sidebar routes at %s%s/", base_url, NAMESPACE)
