"""The Invoker base class that backends subclass (Prompty's invoker interface).

    from jupyter_invoker.invokers import Invoker, InvokerFactory

    @InvokerFactory.register("custom")
    class CustomInvoker(Invoker):
        def invoke_sync(self, data):          # or: async def invoke(self, data)
            return data

An invoker implements ``async invoke(data)`` and/or ``invoke_sync(data)``; either
one suffices, the base class derives the other:

- sync from async: :func:`~jupyter_invoker.invokers.run_sync` (a fresh event loop, or,
  when the calling thread already runs a loop, as in a Jupyter kernel, a fresh loop
  on a worker thread);
- async from sync: ``asyncio.to_thread`` so the event loop is never blocked.

``stream(data)`` is an async iterator of text chunks; backends that stream
(openai, azure, serverless) override it, the default yields the whole result once.
``self.prompty`` is the (already overridden) prompt; ``data`` is the prepared content.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from ..exceptions import InvokerConfigError
from ._result import result_text
from ._sync import run_sync

if TYPE_CHECKING:
    from ..prompty import Prompty

__all__ = ["Invoker", "run_sync"]  # run_sync: kept here for older imports; see _sync


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
