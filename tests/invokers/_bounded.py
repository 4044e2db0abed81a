"""A hang guard for calls that must end on their own (pytest here has no timeout plugin):

    error = returns_within(30, lambda: execute(path), "execute against a silent server")

runs the call in a daemon thread and gives back its result, or raises what it raised;
a call still running after ``limit_s`` fails the test naming it. The limit is far above
what the call should take: it stops a hang, it does not time the call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["returns_within"]

T = TypeVar("T")


def returns_within(limit_s: float, call: Callable[[], T], what: str) -> T:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"bounded: {what}", daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        raise AssertionError(f"{what} was still running after {limit_s:g} s (a hang)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
