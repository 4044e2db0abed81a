"""Every ``.prompty`` under the server root: a bounded walk that cannot be made to hang.

    found = discover(root)                          # Discovery(paths=[(rel, real), ...])
    found = discover(root, exclude=["tests", "docs/**"])

The walk is breadth-first and bounded (``MAX_ENTRIES`` directory entries,
``MAX_DEPTH`` levels, ``MAX_PROMPTS`` prompts; past a bound ``truncated`` is true).
It skips hidden files and folders, ``node_modules``, ``__pycache__``,
``site-packages``, virtual environments (a folder holding ``pyvenv.cfg`` or
``conda-meta``) and whatever the server's ``exclude`` setting names. It never
follows a symbolic link to a folder; a linked file is listed only when its target is
a regular file inside the root and not in a hidden folder. Only regular files are
listed: a FIFO, socket or device named ``x.prompty`` would block or never end a read.

``exclude`` patterns are shell globs (``fnmatch``) on the path relative to the root
(``tests/fixtures``, ``**/drafts``, ``*.draft.prompty``); a pattern without ``/``
also matches a file or folder of that name at any depth (``tests``). An excluded
folder is not walked at all.
"""

from __future__ import annotations

import fnmatch
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._paths import is_hidden

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "MAX_PROMPTS", "SKIPPED", "Discovery", "discover"]

MAX_ENTRIES = 200_000
MAX_DEPTH = 24
MAX_PROMPTS = 5_000
SKIPPED = frozenset({"node_modules", "__pycache__", "site-packages"})


@dataclass
class Discovery:
    """The prompt files found (``real`` paths, listing order) and whether a bound cut the walk."""

    paths: list[tuple[str, Path]] = field(default_factory=list)  # (relative, real)
    truncated: bool = False


class _Excluder:
    def __init__(self, patterns: Sequence[str]) -> None:
        cleaned = [p.strip().strip("/") for p in patterns if p and p.strip().strip("/")]
        self._paths = [p for p in cleaned if "/" in p]
        self._names = [p for p in cleaned if "/" not in p]

    def __call__(self, rel: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self._names) or any(
            fnmatch.fnmatchcase(rel, p) for p in self._paths
        )


def _skip_dir(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name in SKIPPED or entry.is_symlink():  # hidden names never get here
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(entry.path, "conda-meta")
    )


def _linked_file(entry: os.DirEntry[str], root: Path) -> Path | None:
    """The target of a linked prompt, if it is a regular file inside the root, not hidden."""
    try:
        real = Path(entry.path).resolve()
        if not real.is_relative_to(root) or not real.is_file():
            return None
    except (OSError, RuntimeError):
        return None
    return None if is_hidden(root, "", real) else real


def discover(root: Path, exclude: Sequence[str] = ()) -> Discovery:
    """Walk ``root`` (already resolved) breadth-first within the bounds above."""
    found = Discovery()
    excluded = _Excluder(exclude)
    queue: deque[tuple[str, str, int]] = deque([(str(root), "", 0)])
    seen = 0
    while queue:
        folder, prefix, depth = queue.popleft()
        try:
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder: skipped, like the file browser does
        for entry in listing:
            seen += 1
            if seen > MAX_ENTRIES:
                found.truncated = True
                return found
            rel = f"{prefix}{entry.name}"
            if entry.name.startswith(".") or excluded(rel, entry.name):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)  # regular files only
            except OSError:
                continue
            if is_dir:
                if depth + 1 < MAX_DEPTH and not _skip_dir(entry):
                    queue.append((entry.path, rel + "/", depth + 1))
                elif depth + 1 >= MAX_DEPTH:
                    found.truncated = True
                continue
            if not entry.name.endswith(".prompty"):
                continue
            if entry.is_symlink():
                real = _linked_file(entry, root)
                if real is None:
                    continue
            elif is_file:
                real = Path(entry.path)
            else:
                continue  # a FIFO, socket or device
            found.paths.append((rel, real))
            if len(found.paths) >= MAX_PROMPTS:
                found.truncated = True
                return found
    found.paths.sort(key=lambda item: item[0])
    return found
