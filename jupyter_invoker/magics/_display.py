"""What the magics show: one display updated in place while text streams in.

    live = LiveOutput(["local"], enabled=True)     # one pane per invoker, side by side
    live.start()                                   # one display, with a display id
    live.feed(0, " Paris")                         # appended; shown at most ~10 times/s
    live.finish(0, header="local · SmolLM2 · 5 tokens · 0.41 s")
    live.close()                                   # the final state, always shown

    streamer = TokenStreamer(tokenizer, on_text)   # transformers' streamer protocol

Text streams through ``update_display`` of one display, not ``print``: the kernel's
IOPub rate limit counts ``stream`` messages, not display updates, and one display
keeps the notebook tidy. ``suppress_value`` keeps the cell's value (the
``ExecutionResult`` the live display already shows) in ``_``/``Out`` without
showing it a second time. No IPython import happens before the first display.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "ENDED_AT_ONCE",
    "LiveOutput",
    "TokenStreamer",
    "install",
    "labelled",
    "prompt_label",
    "suppress_value",
    "uninstall",
]

UPDATE_INTERVAL_S = 0.1  # at most ~10 display updates per second


class _Pane:
    def __init__(self, title: str) -> None:
        self.title = title
        self.header = f"{title} · running…"
        self.text = ""
        self.tokens = 0


class LiveOutput:
    """Header(s) and streamed text in one display, updated in place and throttled."""

    def __init__(self, titles: list[str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.panes = [_Pane(title) for title in titles]
        self.updates = 0  # how many display messages went out (tests, benchmark)
        self.first_text_at: float | None = None  # perf_counter() of the first streamed text
        self._handle: Any = None
        self._last = 0.0
        self._dirty = False
        self._lock = threading.Lock()

    # -- feeding -------------------------------------------------------------------
    def start(self) -> None:
        """Show the display (once; a second call changes nothing)."""
        if not self.enabled or self._handle is not None:
            return
        from IPython.display import display

        self._handle = display(self._bundle(), raw=True, display_id=True)
        self._last = time.perf_counter()
        self.updates = 1

    def feed(self, pane: int, piece: str, *, tokens: int = 0) -> None:
        """Append ``piece`` to pane ``pane``; the display follows within ~0.1 s."""
        with self._lock:
            if self.first_text_at is None and piece:
                self.first_text_at = time.perf_counter()
            target = self.panes[pane]
            target.text += piece
            target.tokens += tokens
            self._dirty = True
            self._maybe_update()

    def set_text(self, pane: int, text: str, *, tokens: int | None = None) -> None:
        """Replace pane ``pane``'s text (a streamer that re-decodes the whole text)."""
        with self._lock:
            if self.first_text_at is None and text:
                self.first_text_at = time.perf_counter()
            target = self.panes[pane]
            target.text = text
            if tokens is not None:
                target.tokens = tokens
            self._dirty = True
            self._maybe_update()

    def status(self, pane: int, header: str) -> None:
        """Pane ``pane``'s header says ``header`` now (shown at once, the display started
        if it was not): what the run is doing before any text comes."""
        with self._lock:
            self.panes[pane].header = header
            if self._handle is None:
                self._dirty = False
                self.start()
            else:
                self._update()

    def finish(self, pane: int, *, header: str, text: str | None = None) -> None:
        """Pane ``pane`` is done: its final header (and text, when known)."""
        with self._lock:
            target = self.panes[pane]
            target.header = header
            if text is not None:
                target.text = text
            self._dirty = True

    def close(self) -> None:
        """Show the final state (whatever the throttle held back)."""
        with self._lock:
            if self._dirty:
                self._update()

    # -- rendering -----------------------------------------------------------------
    def _maybe_update(self) -> None:
        now = time.perf_counter()
        if now - self._last >= UPDATE_INTERVAL_S or self.updates == 1:
            self._update()

    def _update(self) -> None:
        self._dirty = False
        if self._handle is None:
            return
        self._last = time.perf_counter()
        self._handle.update(self._bundle(), raw=True)
        self.updates += 1

    def _bundle(self) -> dict[str, str]:
        if len(self.panes) == 1:
            pane = self.panes[0]
            plain = f"{pane.header}\n{pane.text}"
        else:
            plain = "\n".join(f"── {p.header}\n{p.text}\n" for p in self.panes).rstrip()
        cells = "".join(
            '<div style="flex:1 1 0;min-width:12em">'
            f'<div style="font-weight:600;opacity:.75">{html.escape(p.header)}</div>'
            f'<div style="white-space:pre-wrap;font-family:var(--jp-code-font-family,monospace)">'
            f"{html.escape(p.text)}</div></div>"
            for p in self.panes
        )
        return {
            "text/plain": plain,
            "text/html": f'<div style="display:flex;gap:1.5em">{cells}</div>',
        }


ENDED_AT_ONCE = "(the model ended the sequence at once: its first token was end-of-sequence)"
_LABEL_CHARS = 60


def prompt_label(prompt: str) -> str:
    """A prompt as the label of its completion: quoted, its end kept when it is long (the
    words the completion continues)."""
    text = " ".join(prompt.split())
    if len(text) > _LABEL_CHARS:
        text = "…" + text[-(_LABEL_CHARS - 1) :]
    return f'"{text}"'


def labelled(pairs: list[tuple[str, str]]) -> str:
    """One completion as itself; several, each after its prompt's label."""
    if len(pairs) == 1:
        return pairs[0][1]
    return "\n".join(f"{prompt_label(prompt)} → {text.lstrip()}" for prompt, text in pairs)


class TokenStreamer:
    """A transformers streamer (``put``/``end``) that hands decoded text to ``on_text``.

    ``generate`` calls ``put(prompt_ids)`` (2-D) once per run, then ``put(next_ids)``
    (one id per row) per step. Each run is one segment: ``on_text(segment, rows,
    tokens)`` receives a segment's ``(prompt, completion so far)`` per batch row;
    decoding happens only when the display is due for an update, so streaming costs next
    to nothing per step.
    """

    def __init__(
        self, tokenizer: Any, on_text: Callable[[int, list[tuple[str, str]], int], None]
    ) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.segment = -1
        self.rows: list[list[int]] = []
        self.prompts: list[str] = []
        self._last = 0.0

    def put(self, value: Any) -> None:
        if value.dim() == 2:  # a new run starts with its prompt
            self.segment += 1
            self.rows = [[] for _ in range(value.shape[0])]
            self.prompts = self.tokenizer.batch_decode(value, skip_special_tokens=True)
            self._last = 0.0
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=False):
            row.append(int(token))
        now = time.perf_counter()
        if now - self._last >= UPDATE_INTERVAL_S:
            self._last = now
            self._emit()

    def end(self) -> None:
        if self.rows:
            self._emit()

    def _emit(self) -> None:
        texts = [self.tokenizer.decode(row, skip_special_tokens=True) for row in self.rows]
        rows = list(zip(self.prompts, texts, strict=False))
        self.on_text(self.segment, rows, len(self.rows[0]) if self.rows else 0)


# -- the cell's value, shown once ----------------------------------------------------
_pending: dict[int, Any] = {}  # id(shell) -> the value the live display already shows
_saved_printers: dict[int, dict[type, Any]] = {}


def suppress_value(shell: Any, value: Any) -> None:
    """Keep ``value`` (returned by a magic) out of the cell's displayed output.

    It still becomes ``_`` and ``Out[n]``; the registration lasts until the cell ends.
    """
    formatter = shell.display_formatter.ipython_display_formatter
    kind = type(value)
    saved = _saved_printers.setdefault(id(shell), {})
    if kind not in saved:
        saved[kind] = formatter.type_printers.get(kind)

    def printer(obj: Any) -> None:
        if obj is _pending.get(id(shell)):
            return  # already on screen: the live display shows it
        _restore(shell)
        from IPython.display import display

        display(obj)

    formatter.for_type(kind, printer)
    _pending[id(shell)] = value


def _restore(shell: Any, *_: Any) -> None:
    _pending.pop(id(shell), None)
    formatter = shell.display_formatter.ipython_display_formatter
    for kind, previous in _saved_printers.pop(id(shell), {}).items():
        if previous is None:
            formatter.type_printers.pop(kind, None)
        else:
            formatter.type_printers[kind] = previous


_callbacks: dict[int, Callable[..., None]] = {}


def install(shell: Any) -> None:
    """Undo any value suppression when each cell ends (idempotent)."""
    if id(shell) in _callbacks:
        return

    def after_cell(*_: Any) -> None:
        _restore(shell)

    _callbacks[id(shell)] = after_cell
    shell.events.register("post_run_cell", after_cell)


def uninstall(shell: Any) -> None:
    callback = _callbacks.pop(id(shell), None)
    _restore(shell)
    if callback is not None:
        with contextlib.suppress(ValueError):  # already gone
            shell.events.unregister("post_run_cell", callback)
