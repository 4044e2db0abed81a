"""Secret values: keys that must never reach a repr, an error, a log line or a file.

key = Secret(os.environ["OPENAI_API_KEY"])
repr(key)            # "Secret('***')"
key.get_secret()     # the real value, only at the client boundary
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Secret", "is_secret_key", "redact", "reveal"]

_MASK = "***"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(name: object) -> bool:
    """True for configuration field names that hold credentials (``api_key``,
    ``apiKey``, ``token``, ``*_password``...): the one rule for files, store and server."""
    if not isinstance(name, str):
        return False
    snake = _CAMEL.sub("_", name.strip()).lower().replace("-", "_")
    if snake in {"key", "token", "password", "passwd", "secret", "api_key", "apikey"}:
        return True
    return snake.endswith(("_key", "_token", "secret", "_password"))


class Secret:
    """A string that hides itself from ``repr``/``str``/``format``/pickling to text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get_secret()
        self._value = str(value)

    def get_secret(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("A Secret cannot be pickled; keep keys in the environment instead.")


def reveal(value: Any) -> Any:
    """The plain value behind a :class:`Secret` (anything else is returned unchanged)."""
    return value.get_secret() if isinstance(value, Secret) else value


def redact(text: str, *secrets: Any) -> str:
    """Replace every occurrence of each secret's value in ``text`` by ``***``."""
    for secret in secrets:
        plain = reveal(secret)
        if isinstance(plain, str) and len(plain) >= 4:
            text = text.replace(plain, _MASK)
    return text
