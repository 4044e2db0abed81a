"""How the package's own errors look in IPython: what went wrong, and the user's line.

    InvokerConnectionError: serverless could not reach http://127.0.0.1:9/v1 ...
      Cell In[5], line 1: %invoke weather.prompty --invoker serverless
      (%tb shows the full traceback)

IPython shows an exception through its ``_render_traceback_`` when it has one. An
expected failure (a refused connection, a misspelt module, an interrupt) otherwise
prints tens to hundreds of lines of the package's, IPython's and torch's frames around
one sentence that says what to do. ``%tb`` still shows the whole chain: asked from
there, the full traceback is rendered. Outside IPython nothing here is used.
"""

from __future__ import annotations

import sys
import traceback
from types import FrameType, TracebackType
from typing import Any

__all__ = ["asked_by_tb_magic", "render"]

_RED, _GREEN, _DIM, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[0m"


def _shell() -> Any:
    module = sys.modules.get("IPython")
    get = getattr(module, "get_ipython", None)
    return get() if get is not None else None


def asked_by_tb_magic() -> bool:
    """Whether IPython's ``%tb`` magic is rendering (it wants the whole traceback)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "tb" and "magics" in code.co_filename.replace("\\", "/"):
            return True
        frame = frame.f_back
    return False


def _user_line(shell: Any, tb: TracebackType | None) -> str | None:
    """``Cell In[N], line L: <the line as typed>`` of the last frame in a notebook cell."""
    cells: dict[str, int] = getattr(getattr(shell, "compile", None), "_filename_map", {})
    found: tuple[int, int, str] | None = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in cells:
            found = (cells[filename], tb.tb_lineno, filename)
        tb = tb.tb_next
    if found is None:
        return None
    number, line, filename = found
    raw = _raw_cell(shell, number)
    lines = raw.splitlines() if raw is not None else []
    if not 0 < line <= len(lines):
        import linecache

        lines = linecache.getlines(filename)
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f"Cell In[{number}], line {line}" + (f": {text}" if text else "")


def _raw_cell(shell: Any, number: int) -> str | None:
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if history is not None and 0 <= number < len(history):
        return str(history[number])
    return None


def render(exc: BaseException) -> list[str]:
    """IPython's ``_render_traceback_`` of the package's errors (see the module docstring)."""
    shell = _shell()
    if shell is None or asked_by_tb_magic():
        if shell is not None:
            tb = shell.InteractiveTB
            return list(tb.structured_traceback(type(exc), exc, exc.__traceback__))
        return traceback.format_exception(type(exc), exc, exc.__traceback__)
    lines = [f"{_RED}{type(exc).__name__}{_RESET}: {exc}"]
    where = _user_line(shell, exc.__traceback__)
    if where is not None:
        lines.append(f"  {_GREEN}{where}{_RESET}")
    cause = exc.__cause__
    if cause is not None and not hasattr(cause, "_render_traceback_"):
        lines.append(f"  {_DIM}(from {type(cause).__name__}){_RESET}")
    lines.append(f"  {_DIM}(%tb shows the full traceback){_RESET}")
    return lines
