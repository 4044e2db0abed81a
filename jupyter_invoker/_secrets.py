"""Secret values: keys that must never reach a repr, an error, a log line or a file.

key = Secret(os.environ["OPENAI_API_KEY"])
repr(key)            # "Secret('***')"
key.get_secret()     # the real value, only at the client boundary
is_secret_key("Authorization")                   # True: a field name that holds credentials
looks_like_key("Bearer sk-...")                  # True: a value shaped like a credential
looks_like_key_name("aB3dEfGh...")               # True: a variable "name" that is a key
mask_url_password("http://me:pw@host/v1")        # "http://me:***@host/v1"
redactor = StreamRedactor(["sk-abc123..."])      # masks a key split across streamed chunks
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "Secret",
    "StreamRedactor",
    "environment_keys",
    "has_url_password",
    "is_secret_key",
    "leaves",
    "longest_first",
    "looks_like_key",
    "looks_like_key_name",
    "mask_url_password",
    "redact",
    "redact_json",
    "referenced_variables",
    "reveal",
    "secret_values",
    "url_password",
]

_MASK = "***"
_MASK_MIN = 8  # a key-named variable's value shorter than this is not worth masking
_ENV_USE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SECRET_NAMES = frozenset(
    {"key", "token", "password", "passwd", "secret", "api_key", "apikey", "passphrase"}
    | {"credential", "credentials", "auth", "authorization", "cookie"}
)
_SECRET_ENDINGS = (
    "_key", "_token", "secret", "_password", "_passphrase", "_credential", "_credentials", "_auth",
)  # fmt: skip
# Well-known provider key shapes (OpenAI, Anthropic, GitHub, GitLab, Hugging Face, Google,
# Slack, AWS, Stripe) and HTTP credentials: refused under any field name, masked in text.
_KEY_SHAPE = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w\-]{20,}"
    r"|hf_[A-Za-z0-9]{20,}|AIza[A-Za-z0-9_\-]{30,}|xox[abprs]-[\w\-]{10,}|AKIA[0-9A-Z]{16}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,})"
    r"|\b(?:Bearer|Basic|Token)\s+(?=\S*\d)[A-Za-z0-9+/_.~=\-]{8,}",
    re.IGNORECASE,
)
# A variable "name" that is a key itself: 20+ letters and digits with no '_' between words
# (an Azure key is 32 hex digits), or 24+ mixing both cases and digits.
_RANDOM_NAME = re.compile(
    r"^(?:(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9]{20,}"
    r"|(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9_]{24,})$"
)


def is_secret_key(name: object) -> bool:
    """True for configuration field names that hold credentials (``api_key``, ``apiKey``,
    ``token``, ``Authorization``, ``passphrase``, ``*_password``...): the one rule for
    files, store and server."""
    if not isinstance(name, str):
        return False
    snake = _CAMEL.sub("_", name.strip()).lower().replace("-", "_")
    return snake in _SECRET_NAMES or snake.endswith(_SECRET_ENDINGS)


def looks_like_key(text: str) -> bool:
    """Whether ``text`` holds a provider key or an HTTP credential (``Bearer ...``)."""
    return bool(_KEY_SHAPE.search(text))


def looks_like_key_name(name: str) -> bool:
    """Whether a variable's NAME is a key itself: key-shaped, or a long random-looking run
    of letters and digits in both cases (``${env:aB3x...}`` holding a pasted key)."""
    return looks_like_key(name) or bool(_RANDOM_NAME.match(name.strip()))


def _split_url(text: str) -> urllib.parse.SplitResult | None:
    if "@" not in text or "://" not in text:
        return None
    try:
        parts = urllib.parse.urlsplit(text.strip())
    except ValueError:
        return None
    return parts if parts.scheme and parts.netloc else None


def url_password(text: str) -> str | None:
    """The password of a URL (``https://user:PASS@host/v1`` -> ``PASS``); None for a URL
    without one, a malformed URL, or text that is no URL."""
    parts = _split_url(text)
    return parts.password if parts is not None and parts.password else None


def leaves(value: Any) -> Iterator[Any]:
    """Every value inside nested mappings, lists and tuples (a :class:`Secret` is a leaf)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            yield item


def referenced_variables(value: Any) -> set[str]:
    """The names of the environment variables ``${env:NAME}`` anywhere in ``value``."""
    names: set[str] = set()
    for leaf in leaves(value):
        text = leaf.get_secret() if isinstance(leaf, Secret) else leaf
        if isinstance(text, str):
            names.update(_ENV_USE.findall(text))
    return names


def longest_first(values: Iterable[str]) -> list[str]:
    """The distinct values worth masking (4 characters or more), longest first, so a
    secret inside a longer one is never masked only in part."""
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def has_url_password(text: str) -> bool:
    """Whether ``text`` is a URL with a password in it (``https://user:PASS@host/v1``)."""
    parts = _split_url(text)
    return parts is not None and bool(parts.password)


def mask_url_password(text: str) -> str:
    """``text`` with the password of a URL replaced by ``***`` (anything else unchanged)."""
    parts = _split_url(text)
    if parts is None or not parts.password:
        return text
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{name}:{_MASK}@{host}"))


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


def redact_json(value: Any, *secrets: Any) -> Any:
    """JSON data (an API error's body, a REST answer) with :func:`redact` applied to
    every string in it."""
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, Mapping):
        return {key: redact_json(item, *secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item, *secrets) for item in value]
    return value


class StreamRedactor:
    """Masks secrets in text that arrives in pieces, a secret possibly split across them.

        redactor = StreamRedactor(secrets)
        shown = redactor.feed(piece)     # safe to show now (may hold back a tail)
        shown += redactor.flush()        # the rest, at the end

    A tail that could be the start of a secret is held back until the next piece says
    whether it is one, so no part of a secret is ever shown.
    """

    def __init__(self, secrets: Iterable[Any]) -> None:
        self._secrets = longest_first(
            plain for plain in (reveal(s) for s in secrets) if isinstance(plain, str)
        )
        self._held = ""

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def feed(self, piece: str) -> str:
        text = redact(self._held + piece, *self._secrets)
        keep = 0
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(text)), keep, -1):
                if text.endswith(secret[:size]):
                    keep = size
                    break
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def environment_keys() -> list[str]:
    """The values of the environment's key-named variables (``OPENAI_API_KEY``...)."""
    return [
        value
        for name, value in os.environ.items()
        if is_secret_key(name) and len(value) >= _MASK_MIN
    ]


def secret_values(configuration: Any) -> list[str]:
    """What must never be shown of a configuration: its :class:`Secret` values, the
    passwords of URLs in it, the values of the variables it references, and every
    key-named environment variable's value; longest first (no partial masks)."""
    found: set[str] = set(environment_keys())
    for leaf in leaves(configuration):
        if isinstance(leaf, Secret):
            leaf = leaf.get_secret()
            found.add(leaf)
        if isinstance(leaf, str):
            found.update(
                os.environ[name] for name in _ENV_USE.findall(leaf) if os.environ.get(name)
            )
            password = url_password(leaf)
            if password is not None:
                found.add(password)
    return longest_first(found)
