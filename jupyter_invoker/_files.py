"""Reading a file that may be hostile: a regular file only, bounded, never blocking.

    data = read_limited(Path("notes.prompty"), limit=1 << 20)   # bytes
    # NotAFile("is a FIFO (named pipe)") for a FIFO, a socket or a device: such a file
    #   would block the reader forever or never end;
    # TooLarge(size, limit) before a byte of an oversized file is read.

The file is opened without blocking (``O_NONBLOCK``: opening a FIFO for reading would
otherwise wait for a writer) and checked on the open descriptor, so a file swapped
between a check and the read cannot slip through. Callers turn these two errors
into their own messages (a prompt's load error, the invoker store's error).

    data = strict_json('{"timeout": 1e999}')   # NotFinite("1e999")

``strict_json`` is ``json.loads`` without Python's extensions: ``NaN``, ``Infinity`` and
a number too large for a float (``1e999``) raise ``NotFinite`` (its text is the number
as written), because what is read would otherwise be written back, or answered, as
JSON no other reader accepts. The store, ``${file:x.json}`` and the server's request
bodies all read JSON through it.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

__all__ = ["NotAFile", "NotFinite", "TooLarge", "read_limited", "strict_json"]

_CHUNK = 1 << 16


class NotAFile(OSError):
    """The path is not a regular file; ``kind`` says what it is ("a FIFO (named pipe)")."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"is {kind}, not a regular file")
        self.kind = kind


class TooLarge(OSError):
    """The file holds more than ``limit`` bytes (``size``: what it holds, at least)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"holds {size:,} bytes, more than the {limit:,} allowed")
        self.size = size
        self.limit = limit


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"


def read_limited(path: Path | str, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Raises :class:`NotAFile`, :class:`TooLarge`, or the ``OSError`` of opening it
    (``FileNotFoundError``, ``PermissionError``, ...).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(_kind(info.st_mode))
        if info.st_size > limit:
            raise TooLarge(info.st_size, limit)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:  # it grew while being read
                raise TooLarge(total, limit)
            chunks.append(chunk)
    finally:
        os.close(fd)


class NotFinite(ValueError):
    """A number JSON does not allow; ``str()`` is the number as written (``NaN``, ``1e999``)."""


def _constant(name: str) -> Any:
    raise NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text)
    return value


def strict_json(text: str) -> Any:
    """``json.loads(text)``, refusing non-finite numbers with :class:`NotFinite`."""
    return json.loads(text, parse_constant=_constant, parse_float=_finite)
