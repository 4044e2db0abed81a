"""Helpers more than one test module uses: what a traced run must leave behind on a
model (nothing), a Ctrl-C in the middle of one, a free loopback port, a real Jupyter
kernel to run cells in (``pythonpath = ["tests"]`` in the pytest settings makes this
importable)."""

from __future__ import annotations

import _thread
import contextlib
import gc
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
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


KERNEL_TIMEOUT = 300


@contextlib.contextmanager
def running_kernel(folder: Path, setup: str = "%load_ext jupyter_invoker") -> Iterator[Any]:
    """A real ipykernel started in ``folder`` (its own selection store there), ``setup``
    run in it; yields ``(kernel manager, client)``, shut down afterwards."""
    import os

    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    env = {**os.environ, "JUPYTER_INVOKER_CONFIG_DIR": str(folder / "config")}
    km.start_kernel(cwd=str(folder), env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        reply, _ = execute(kc, setup)
        assert reply["status"] == "ok", reply
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc: Any, code: str, *, msg_id: str | None = None) -> tuple[dict[str, Any], list[Any]]:
    """Run ``code``; (the execute_reply content, its IOPub messages in order)."""
    msg_id = msg_id or kc.execute(code)
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=KERNEL_TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                break
            continue
        messages.append(msg)
    while True:
        reply = kc.get_shell_msg(timeout=KERNEL_TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], messages


def value(kc: Any, expression: str) -> str:
    """The ``text/plain`` of ``expression`` evaluated in the kernel."""
    reply, messages = execute(kc, expression)
    assert reply["status"] == "ok", reply
    results = [m for m in messages if m["msg_type"] == "execute_result"]
    return str(results[-1]["content"]["data"]["text/plain"])


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write into: a read-only one, or as root (who writes
    anywhere a mode allows) /sys, which refuses even root."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder
