from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_invoker.exceptions import InvokerConfigError
from jupyter_invoker.invokers import Invoker
from jupyter_invoker.prompty import load

ASSETS = Path(__file__).parent / "assets"


@pytest.fixture
def prompt() -> Any:
    return load(ASSETS / "custom.prompty")


class AsyncOnly(Invoker):
    async def invoke(self, data: Any) -> Any:
        await asyncio.sleep(0)
        return ("async", data, threading.current_thread().name)


class SyncOnly(Invoker):
    def invoke_sync(self, data: Any) -> Any:
        return ("sync", data, threading.current_thread().name)


def test_async_only_invoker_works_sync(prompt: Any) -> None:
    kind, data, _ = AsyncOnly(prompt).invoke_sync(1)
    assert (kind, data) == ("async", 1)


def test_async_only_invoker_works_sync_inside_a_running_loop(prompt: Any) -> None:
    async def cell() -> Any:  # a Jupyter cell: a loop is already running
        return AsyncOnly(prompt).invoke_sync(2)

    kind, data, thread = asyncio.run(cell())
    assert (kind, data) == ("async", 2)
    assert thread != threading.current_thread().name


def test_sync_only_invoker_works_async_off_the_loop_thread(prompt: Any) -> None:
    kind, data, thread = asyncio.run(SyncOnly(prompt).invoke(3))
    assert (kind, data) == ("sync", 3)
    assert thread != threading.current_thread().name  # the loop is not blocked


def test_implements_flags() -> None:
    assert AsyncOnly.implements_async() and not AsyncOnly.implements_sync()
    assert SyncOnly.implements_sync() and not SyncOnly.implements_async()


def test_neither_implemented_fails_clearly_at_call(prompt: Any) -> None:
    class Empty(Invoker):
        pass

    with pytest.raises(InvokerConfigError, match="implements neither"):
        Empty(prompt).invoke_sync(1)
    with pytest.raises(InvokerConfigError, match="implements neither"):
        asyncio.run(Empty(prompt).invoke(1))


def test_default_stream_yields_the_whole_result_once(prompt: Any) -> None:
    class Text(Invoker):
        def invoke_sync(self, data: Any) -> Any:
            return f"echo {data}"

    async def collect() -> list[str]:
        return [piece async for piece in Text(prompt).stream("x")]

    assert asyncio.run(collect()) == ["echo x"]


def _waits_for_result(thread_id: int | None) -> bool:
    """Whether that thread is inside ``BackgroundRun.result`` (run_sync's wait)."""
    frame = sys._current_frames().get(thread_id or 0)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "result" and code.co_filename.endswith("_sync.py"):
            return True
        frame = frame.f_back
    return False


def _until(condition: Callable[[], bool], limit_s: float = 30) -> bool:
    """Poll ``condition`` (a thread's state has no event to wait on) until it holds."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_interrupt_while_waiting_cancels_the_call(prompt: Any) -> None:
    import _thread

    waiting, finished, cancelled = threading.Event(), threading.Event(), threading.Event()

    class Slow(Invoker):
        async def invoke(self, data: Any) -> Any:
            waiting.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            finished.set()

    def ctrl_c_once_waiting() -> None:
        # Once the call runs and this test's thread waits for its result (not sooner: an
        # interrupt before the wait begins is not the case under test).
        main = threading.main_thread().ident
        if waiting.wait(30) and _until(lambda: _waits_for_result(main)):
            _thread.interrupt_main()
        else:
            missed.append("the call never started, or nothing waited for it in run_sync")

    missed: list[str] = []

    async def cell() -> Any:  # Ctrl-C in Jupyter while a sync call waits
        threading.Thread(target=ctrl_c_once_waiting, daemon=True).start()
        Slow(prompt).invoke_sync(1)
        raise AssertionError(f"the call ran to its end: {missed or 'the interrupt was lost'}")

    loop = asyncio.new_event_loop()  # no asyncio.run: it would install its own SIGINT handler
    # Our own handler: a suite started as a background job inherits an ignored SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(cell())
        # The interrupt ended the wait itself: the call had not run to its end...
        assert not finished.is_set()
    finally:
        loop.close()
        signal.signal(signal.SIGINT, previous)
    # ...and it is cancelled, not left running (a bound, far below its 10 s sleep).
    assert cancelled.wait(5), "the interrupted call was never cancelled"
    assert not finished.is_set()


def test_one_public_helper_runs_coroutines_from_sync_code() -> None:
    """`run_sync` (and `run_in_background` for "start now, wait later") is the one way;
    the magics' side-by-side runs use it too."""
    import asyncio

    from jupyter_invoker.invokers import run_in_background, run_sync

    async def double(x: int) -> int:
        await asyncio.sleep(0.01)
        return 2 * x

    assert run_sync(double(2)) == 4

    async def inside_a_loop() -> int:
        return run_sync(double(3))  # a running loop: a fresh one on a worker thread

    assert asyncio.run(inside_a_loop()) == 6
    background = run_in_background(double(5))
    assert background.result() == 10 and background.done()


def test_interrupt_before_the_wait_begins_still_cancels_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that lands once the worker runs but before ``result()`` waits (here: the
    wait itself raises at once) cancels the coroutine; it is never left running."""
    from jupyter_invoker.invokers import _sync

    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupted_before_waiting(self: Any) -> Any:
        assert started.wait(30), "the worker never started the call"
        raise KeyboardInterrupt

    monkeypatch.setattr(_sync.BackgroundRun, "result", interrupted_before_waiting)

    async def cell() -> None:
        _sync.run_sync(slow())

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(cell())
    assert cancelled.wait(5), "the call kept running after the interrupt"


def test_a_run_interrupted_before_it_starts_closes_its_coroutine() -> None:
    from jupyter_invoker.invokers import BackgroundRun

    async def never() -> None:  # pragma: no cover - must not run
        raise AssertionError("ran")

    coro = never()
    run = BackgroundRun(coro, name="never started")
    run.cancel()  # e.g. Ctrl-C between building the run and starting it
    assert coro.cr_frame is None  # closed: no "never awaited" warning, nothing runs
