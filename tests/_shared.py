"""Helpers more than one test folder uses: what a traced run must leave behind on a
model (nothing), a Ctrl-C in the middle of one, a free loopback port (``pythonpath = ["tests"]`` in the pytest settings makes it importable)."""

from __future__ import annotations

import _thread
import contextlib
import gc
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import greenlet


def hooks_left(lm: Any) -> list[str]:
    """Modules still carrying a hook or a recording wrapper on ``forward``."""
    return [
        name or "<root>"
        for name, module in lm.hf_model.named_modules()
        if module._forward_hooks or module._forward_pre_hooks or "forward" in vars(module)
    ]


def live_greenlets() -> int:
    """Started, unfinished greenlets other than a thread's main greenlet."""
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(
            1
            for obj in gc.get_objects()
            if isinstance(obj, greenlet.greenlet) and obj.parent is not None and bool(obj)
        )


@contextlib.contextmanager
def interrupt_after_steps(lm: Any, steps: int = 3) -> Iterator[Callable[[], int]]:
    """Ctrl-C (``_thread.interrupt_main``) once ``lm`` has run ``steps`` forwards; yields
    a function giving how many forwards ran after it. Installs its own SIGINT handler:
    a suite started as a background job inherits an ignored SIGINT."""
    calls: list[None] = []
    counter = lm.hf_model.register_forward_hook(lambda *a: calls.append(None))
    at_interrupt: list[int] = []
    done = threading.Event()

    def interrupt() -> None:
        while len(calls) < steps and not done.is_set():
            time.sleep(0.001)
        if not done.is_set():
            at_interrupt.append(len(calls))
            _thread.interrupt_main()

    killer = threading.Thread(target=interrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        killer.start()
        yield lambda: len(calls) - at_interrupt[0]
    finally:
        done.set()
        killer.join()
        counter.remove()
        signal.signal(signal.SIGINT, previous)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
