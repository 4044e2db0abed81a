"""The bounds on reading and rendering a prompt: a cloned workspace may be hostile.

    check_yaml_graph(node, where="/abs/x.prompty", offset=1)   # before constructing
    text = run_limited(lambda: render_it(), RENDER_SECONDS, "rendering the template")
    # past the deadline: LimitExceeded naming the limit

| bound | value | what happens past it |
|---|---|---|
| ``MAX_FILE_BYTES`` | 1 MiB | a ``.prompty`` (or a ``${file:}`` it reads) is refused before it is read |
| ``MAX_NESTING`` | 64 levels | YAML / JSON nested deeper is refused |
| ``MAX_VALUES`` | 100,000 | YAML whose aliases (``*name``) expand to more values is refused |
| ``RENDER_SECONDS`` | 2 s | a render still running is stopped |
| ``MAX_RENDER_CHARS`` | 5,000,000 | rendered text, or a string / list built while rendering, past it is refused |
| ``MAX_WIDTH`` | 100,000 | a width or count handed to a padding, formatting or repeating operation |

A render past its time is stopped by raising :class:`Overtime` in the rendering
thread (``PyThreadState_SetAsyncExc``) from one watchdog thread; templates are
Python code once compiled, so even a loop with an empty body stops within a few
milliseconds. ``Overtime`` derives from ``BaseException`` so that no ``except
Exception`` on the way swallows it; :func:`run_limited` turns it into
:class:`LimitExceeded`, which callers word as the package's own error. (A single C
call cannot be interrupted: what could make one long, a huge string or number, is
refused before it runs; see ``_sandbox``.)
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_RENDER_CHARS",
    "MAX_VALUES",
    "MAX_WIDTH",
    "RENDER_SECONDS",
    "LimitExceeded",
    "Overtime",
    "check_yaml_graph",
    "run_limited",
]

MAX_FILE_BYTES = 1 << 20
MAX_NESTING = 64
MAX_VALUES = 100_000
RENDER_SECONDS = 2.0
MAX_RENDER_CHARS = 5_000_000
MAX_WIDTH = 100_000
T = TypeVar("T")


class LimitExceeded(Exception):
    """A bound of this module was passed; the message names it and what to do."""


class Overtime(BaseException):
    """Raised asynchronously in a thread whose render ran past its time limit."""


# -- YAML before it is constructed ---------------------------------------------------------


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_yaml_graph(root: yaml.Node, *, where: str, offset: int) -> None:
    """Refuse a composed YAML document that nests deeper than ``MAX_NESTING``, whose
    aliases expand to more than ``MAX_VALUES`` values (a "billion laughs") or that
    refers to itself. Aliases share nodes, so each node is visited once: the check
    costs as much as the file is long, whatever it would expand to."""
    done: dict[int, tuple[int, int]] = {}  # node id -> (values expanded, depth)
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            values = 1 + sum(done[id(kid)][0] for kid in kids)
            depth = 1 + max((done[id(kid)][1] for kid in kids), default=0)
            entered.discard(key)
            line = node.start_mark.line + 1 + offset
            if depth > MAX_NESTING:
                raise LimitExceeded(
                    f"{where}:{line}: the YAML nests more than {MAX_NESTING} levels deep "
                    "(lists or mappings inside each other), which is refused. Flatten it."
                )
            if values > MAX_VALUES:
                raise LimitExceeded(
                    f"{where}:{line}: the YAML's aliases (*name) expand to more than "
                    f"{MAX_VALUES:,} values, which is refused (a file can be made to expand "
                    "without end this way). Write the values out, or use fewer aliases."
                )
            done[key] = (values, depth)
            continue
        if key in done:
            continue
        entered.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in entered:
                line = kid.start_mark.line + 1 + offset
                raise LimitExceeded(
                    f"{where}:{line}: the YAML refers to itself through an alias (*name "
                    "inside the value it names), which cannot be loaded. Remove the alias."
                )
            if id(kid) not in done:
                stack.append((kid, False))


# -- time ------------------------------------------------------------------------------------


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


class _Watchdog:
    """One daemon thread that raises :class:`Overtime`, once, in a thread past its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._armed: dict[int, int] = {}  # token -> thread id, until disarmed
        self._heap: list[tuple[float, int]] = []
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        with self._lock:
            token = next(self._tokens)
            self._armed[token] = threading.get_ident()
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="jupyter_invoker-render-limit", daemon=True
                )
                self._thread.start()
            self._lock.notify()
            return token

    def disarm(self, token: int) -> None:
        """Idempotent; afterwards no Overtime of ``token`` is pending or will come."""
        with self._lock:
            thread_id = self._armed.pop(token, None)
            if thread_id is not None:
                _raise_in(thread_id, None)  # one raised but not delivered yet

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                due, token = self._heap[0]
                now = time.monotonic()
                if due > now:
                    self._lock.wait(due - now)
                    continue
                heapq.heappop(self._heap)  # fired once; stays armed until disarmed
                _raise_in(self._armed[token], Overtime)


_WATCHDOG = _Watchdog()


def run_limited(function: Callable[[], T], seconds: float, what: str) -> T:
    """``function()``, stopped after ``seconds`` with :class:`LimitExceeded` naming the
    limit and ``what`` was running ("rendering the template")."""
    token = _WATCHDOG.arm(seconds)
    try:
        try:
            return function()
        finally:
            _WATCHDOG.disarm(token)
    except Overtime:
        # It may land anywhere above, even inside disarm: disarm again (idempotent).
        _WATCHDOG.disarm(token)
        raise LimitExceeded(
            f"{what} took longer than {seconds:g} s and was stopped (a loop that runs too "
            "long?). Simplify the template or its inputs."
        ) from None


def text_size(value: Any) -> int:
    """The length of a string or container (0 for anything else)."""
    try:
        return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0
    except TypeError:
        return 0
