"""Running a coroutine from synchronous code, even where an event loop already runs.

    value = run_sync(fetch())                     # blocks until done
    background = run_in_background(fetch())       # starts now, on a worker thread
    ...                                           # the caller works meanwhile
    value = background.result()                   # waits; Ctrl-C cancels the coroutine

Without a running loop in this thread, :func:`run_sync` is ``asyncio.run``. Inside
one (a Jupyter kernel runs its cells in a loop) blocking that loop on itself would
deadlock, so the coroutine gets a fresh loop on a worker thread, started with a copy
of the caller's context variables. Waiting for it is interruptible: a
``KeyboardInterrupt`` (or any exception) while waiting cancels the coroutine, so its
connections close, and is re-raised at once. This is the package's one way to do it:
``Invoker.invoke_sync``, ``execute`` and the magics' side-by-side runs all use it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["BackgroundRun", "run_in_background", "run_sync"]

T = TypeVar("T")

_POLL_S = 0.05  # how often a waiting thread looks up (and so sees Ctrl-C)
_CANCEL_WAIT_S = 5.0  # how long a cancelled coroutine gets to close its connections


class BackgroundRun(Generic[T]):
    """A coroutine running on its own loop in a worker thread; see :func:`run_in_background`."""

    def __init__(self, coro: Coroutine[Any, Any, T], *, name: str) -> None:
        self._outcome: dict[str, Any] = {}
        self._task: asyncio.Task[T] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()

        async def main() -> T:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()  # type: ignore[assignment]
            self._started.set()
            return await coro

        def target() -> None:
            try:
                self._outcome["value"] = asyncio.run(main())
            except BaseException as exc:
                self._outcome["error"] = exc
            finally:
                self._started.set()

        self._coro = coro
        self._cancelled = False
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(target,), name=name)

    def start(self) -> BackgroundRun[T]:
        """Start the worker thread (once); returns self."""
        self._thread.start()
        return self

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> T:
        """Wait for the coroutine's value (or its exception); interrupting the wait
        cancels the coroutine and re-raises."""
        try:
            while self._thread.is_alive():
                self._thread.join(_POLL_S)
        except BaseException:
            self.cancel()
            raise
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Cancel the coroutine and give it a moment to close what it opened (once: a
        second call, e.g. from an outer handler, returns at once)."""
        if self._cancelled:
            return
        self._cancelled = True
        if self._thread.ident is None:  # never started: nothing runs, nothing to close
            self._coro.close()
            return
        self._started.wait(1)
        task, loop = self._task, self._loop
        if task is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(_CANCEL_WAIT_S)


def run_in_background(
    coro: Coroutine[Any, Any, T], *, name: str = "jupyter_invoker-run"
) -> BackgroundRun[T]:
    """Start ``coro`` now on a fresh loop in a worker thread; ``.result()`` waits for it."""
    return BackgroundRun(coro, name=name).start()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    background = BackgroundRun(coro, name="jupyter_invoker-run")
    try:  # an interrupt from here on, even before result() waits, cancels the coroutine
        background.start()
        return background.result()
    except BaseException:
        background.cancel()
        raise
