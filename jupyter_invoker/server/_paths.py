"""Prompt paths from requests: relative to the server root, and never leaving it.

    root = Path("/home/me/work").resolve()
    prompt_file(root, "notebooks/prompts/capital.prompty")  # /home/me/work/notebooks/...
    prompt_file(root, "../etc/passwd.prompty")               # PathRefused(400)
    prompt_file(root, "link-out/x.prompty")                  # PathRefused(403): symlink out

Refused with 400: an empty path, an absolute path (``/x``, ``C:\\x``, ``~``), a
``..`` component, a NUL or backslash, a name not ending in ``.prompty``. Refused
with 403: a path whose real location (symlinks resolved) is outside the root.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["PathRefused", "is_hidden", "prompt_file", "relative", "shortened"]


class PathRefused(Exception):
    """A request path that is refused: ``status`` (400 or 403) and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_text(path: str) -> PurePosixPath:
    shown = shortened(path)
    if not path or "\x00" in path or "\\" in path:
        raise PathRefused(
            400, f"The prompt path {shown!r} is not valid; give it relative to the server root."
        )
    pure = PurePosixPath(path)
    if pure.is_absolute() or PureWindowsPath(path).drive or path.startswith("~"):
        raise PathRefused(
            400,
            f"The prompt path {shown!r} is absolute, which is refused: give it relative to "
            "the server root (as the sidebar lists it).",
        )
    if ".." in pure.parts:
        raise PathRefused(
            400,
            f"The prompt path {shown!r} contains '..', which is refused: prompts are only "
            "served from inside the server root.",
        )
    if pure.suffix != ".prompty":
        raise PathRefused(
            400, f"The path {shown!r} is not a .prompty file; only prompt files are served."
        )
    return pure


def prompt_file(root: Path, path: str) -> Path:
    """The real path of ``path`` under ``root`` (already resolved), or :class:`PathRefused`.

    The file need not exist; the caller answers 404 for that.
    """
    pure = _check_text(path)
    real = (root / pure).resolve()
    if not real.is_relative_to(root):
        raise PathRefused(
            403,
            f"The prompt path {str(pure)!r} leads outside the server root (through a "
            "symbolic link), which is refused.",
        )
    return real


def relative(root: Path, real: Path) -> str:
    """``real`` (under ``root``) as the POSIX path the REST routes use."""
    return real.relative_to(root).as_posix()


def shortened(path: str) -> str:
    """``path`` as a message may quote it: at most 200 characters."""
    return path if len(path) <= 200 else path[:200] + "..."


def is_hidden(root: Path, path: str, real: Path) -> bool:
    """Whether the path asked for, or where it leads, passes through a hidden name."""
    asked = any(part.startswith(".") for part in path.split("/"))
    try:
        target = real.relative_to(root).parts
    except ValueError:
        target = ()
    return asked or any(part.startswith(".") for part in target)
