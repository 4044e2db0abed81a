"""The Invoker base class that backends subclass (Prompty's invoker interface).

    from jupyter_invoker.invokers import Invoker, InvokerFactory

    @InvokerFactory.register("custom")
    class CustomInvoker(Invoker):
        def invoke_sync(self, data):          # or: async def invoke(self, data)
            return data

An invoker implements ``async invoke(data)`` and/or ``invoke_sync(data)``; either
one suffices, the base class derives the other:

- sync from async: the coroutine runs in a fresh event loop, or, when the calling
  thread already runs a loop (a Jupyter kernel), in a fresh loop on a worker thread;
- async from sync: ``asyncio.to_thread`` so the event loop is never blocked.

``stream(data)`` is an async iterator of text chunks; backends that stream
(openai, azure, serverless) override it, the default yields the whole result once.
``self.prompty`` is the (already overridden) prompt; ``data`` is the prepared content.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..exceptions import InvokerConfigError
from ._result import result_text

if TYPE_CHECKING:
    from ..prompty import Prompty

__all__ = ["Invoker", "run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even inside a running loop.

    With no loop running in this thread: ``asyncio.run``. Inside a running loop
    (Jupyter), blocking that loop on itself would deadlock, so the coroutine gets a
    fresh loop on a worker thread while this thread waits, interruptibly: a
    KeyboardInterrupt here cancels the coroutine (closing its connections) and is
    re-raised at once.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> T:
        outcome["task"] = asyncio.current_task()
        outcome["loop"] = asyncio.get_running_loop()
        started.set()
        return await coro

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            started.set()

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), name="jupyter_invoker-run")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.05)
    except BaseException:
        started.wait(1)
        task, loop = outcome.get("task"), outcome.get("loop")
        if task is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        thread.join(5)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


class Invoker:
    """Runs prepared prompt content on one backend. Subclass it; see the module docstring."""

    #: False for backends that must not run several calls at once (a local model):
    #: ``execute_many`` then runs them one after another on the calling thread.
    concurrent: ClassVar[bool] = True

    def __init__(self, prompty: Prompty) -> None:
        self.prompty = prompty
        #: What the last ``stream()`` produced, once it has finished (text, model, usage).
        self.last_result: Any = None

    # -- which half does a class implement natively? -------------------------------
    @classmethod
    def implements_async(cls) -> bool:
        return cls.invoke is not Invoker.invoke

    @classmethod
    def implements_sync(cls) -> bool:
        return cls.invoke_sync is not Invoker.invoke_sync

    @classmethod
    def check_implementation(cls) -> None:
        """Raise :class:`InvokerConfigError` unless ``invoke`` or ``invoke_sync`` is overridden."""
        if not (cls.implements_async() or cls.implements_sync()):
            raise InvokerConfigError(
                f"Invoker class {cls.__module__}.{cls.__qualname__} implements neither "
                "`async def invoke(self, data)` nor `def invoke_sync(self, data)`; "
                "implement at least one of them."
            )

    # -- the interface ---------------------------------------------------------------
    async def invoke(self, data: Any) -> Any:
        """Run ``data`` on the backend (default: ``invoke_sync`` on a worker thread)."""
        type(self).check_implementation()
        return await asyncio.to_thread(self.invoke_sync, data)

    def invoke_sync(self, data: Any) -> Any:
        """Run ``data`` on the backend, blocking (default: ``invoke`` in a fresh loop)."""
        type(self).check_implementation()
        return run_sync(self._invoke_and_close(data))

    async def stream(self, data: Any) -> AsyncIterator[str]:
        """Text chunks as the backend produces them (default: the whole text once).

        An override should leave an ``ExecutionResult`` in ``self.last_result`` when done.
        """
        self.last_result = await self.invoke(data)
        yield result_text(self.last_result)

    async def aclose(self) -> None:
        """Release clients / connections (called by ``execute`` when it is done)."""

    async def _invoke_and_close(self, data: Any) -> Any:
        # A fresh loop per sync call: connections opened in it must close in it.
        try:
            return await self.invoke(data)
        finally:
            await self.aclose()

    def __repr__(self) -> str:
        name = getattr(self.prompty, "name", None)
        return f"<{type(self).__name__} prompt={name!r}>"
