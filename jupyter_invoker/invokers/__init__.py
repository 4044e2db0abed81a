"""Running prompts on backends: the invoker registry, built-in invokers, execute().

    from jupyter_invoker.invokers import Invoker, InvokerFactory, execute

    @InvokerFactory.register("custom")
    class CustomInvoker(Invoker):
        async def invoke(self, data):
            return data

    result = execute("prompts/weather.prompty", {"city": "Seattle"}, invoker="openai")
    result.text, result.invoker, result.model, result.usage

    InvokerFactory.is_local("huggingface")        # True: an alias of local
    InvokerFactory.snapshot()                     # what is registered, without its lock
    value = run_sync(coroutine)                   # from sync code, even inside a loop

Modules (one concept each): ``_base`` (Invoker), ``_registry`` (InvokerFactory,
aliases, snapshot), ``_kernels`` (the kernels' record of what they registered),
``_sync`` (running a coroutine from sync code), ``_execute`` (execute*, invoker
selection order), ``_result`` (ExecutionResult), ``_selection`` (which invoker runs
which prompt), ``_connections`` (named connections, per-invoker defaults), ``_store``
(the shared JSON file, locked), ``_status`` (which invokers exist and are ready),
``_errors`` (SDK errors, retries), ``_openai`` (openai, serverless), ``_azure``
(azure), ``_local`` (local; alias huggingface). Importing this package loads neither
openai nor torch: built-ins import on first use.
"""

from __future__ import annotations

from ._base import Invoker
from ._connections import (
    delete_connection,
    get_connection,
    list_connections,
    save_connection,
    set_default,
)
from ._execute import execute, execute_async, execute_many, execute_many_async
from ._registry import ENTRY_POINT_GROUP, InvokerFactory, InvokerSnapshot
from ._result import ExecutionResult
from ._selection import (
    clear_selection,
    select_connection,
    select_invoker,
    selected_configuration,
    selected_invoker,
    selection,
    selections_path,
)
from ._status import InvokerStatus, invoker_statuses
from ._sync import BackgroundRun, run_in_background, run_sync

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackgroundRun",
    "ExecutionResult",
    "Invoker",
    "InvokerFactory",
    "InvokerSnapshot",
    "InvokerStatus",
    "clear_selection",
    "delete_connection",
    "execute",
    "execute_async",
    "execute_many",
    "execute_many_async",
    "get_connection",
    "invoker_statuses",
    "list_connections",
    "run_in_background",
    "run_sync",
    "save_connection",
    "select_connection",
    "select_invoker",
    "selected_configuration",
    "selected_invoker",
    "selection",
    "selections_path",
    "set_default",
]
