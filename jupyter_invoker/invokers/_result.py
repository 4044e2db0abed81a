"""ExecutionResult: what ``execute`` returns, whatever the backend.

result = execute("prompts/weather.prompty", {"city": "Seattle"}, invoker="openai")
result.text        # 'Sunny, 18 °C ...'
result.invoker     # 'openai'  (the registered name that ran)
result.model       # 'gpt-4o-mini'
result.usage       # {'prompt_tokens': 31, 'completion_tokens': 12, ...} or None
result.generator   # the traced Generator (local runs only)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExecutionResult", "as_result", "result_text"]

_REPR_TEXT = 60
# The activation browser is the widgets layer, which builds on this one (it reads
# results); this layer names it only as a string, resolved when show() is called, so no
# import goes up the layers and results work where plotly and ipywidgets are not installed.
_BROWSER = "jupyter_invoker.widgets"


@dataclass(repr=False, eq=False)
class ExecutionResult:
    """The outcome of running one prompt on one invoker.

    ``prepared`` is what the invoker received: chat messages (a list of
    ``{"role", "content"}``) or, for completion prompts, the rendered string.
    ``raw`` is the backend's own response object (SDK model, ``Generator``, or
    whatever a custom invoker returned). No field ever holds a key.
    """

    text: str
    invoker: str = ""
    model: str | None = None
    usage: dict[str, Any] | None = None
    generator: Any = None
    prepared: Any = None
    raw: Any = None
    finish_reason: str | None = None
    elapsed_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """The chat messages sent (``None`` for completion prompts)."""
        return self.prepared if isinstance(self.prepared, list) else None

    def show(self, **options: Any) -> Any:
        """The activation browser of a local run (``jupyter_invoker.show(result, ...)``)."""
        return importlib.import_module(_BROWSER).show(self, **options)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= _REPR_TEXT else self.text[: _REPR_TEXT - 3] + "..."
        return f"ExecutionResult(invoker={self.invoker!r}, model={self.model!r}, text={text!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def result_text(value: Any) -> str:
    """Best-effort text of whatever an invoker returned.

    A string is itself; an :class:`ExecutionResult` (or anything with a string
    ``.text``) gives that; a mapping gives its ``"text"`` or ``"content"``; a list of
    chat messages gives the last message's content; anything else its ``str()``.
    """
    if isinstance(value, str):
        return value
    text = getattr(value, "text", None)
    if isinstance(text, str):
        return text
    if isinstance(value, Mapping):
        for key in ("text", "content"):
            if isinstance(value.get(key), str):
                return str(value[key])
    if isinstance(value, list) and value and isinstance(value[-1], Mapping):
        content = value[-1].get("content")
        if isinstance(content, str):
            return content
    return str(value)


def as_result(value: Any, *, invoker: str, prepared: Any) -> ExecutionResult:
    """Wrap an invoker's return value into an :class:`ExecutionResult` (in place if it is one)."""
    if isinstance(value, ExecutionResult):
        result = value
    else:
        result = ExecutionResult(text=result_text(value), raw=value)
    result.invoker = invoker
    if result.prepared is None:
        result.prepared = prepared
    return result
