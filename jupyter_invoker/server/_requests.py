"""A request's JSON body, parsed strictly and within bounds, before any handler uses it.

    data = parse_body(b'{"name": "work", "invoker": "openai"}')   # a dict
    parse_body(b'{"timeout": 1e999}')     # Refused(400, "... not a finite number ...")
    parse_body(b'{"api_key": "sk-..."}')  # InvokerConfigError: a literal key, not echoed

Refused: a body over ``BODY_MAX`` bytes (413), not UTF-8, nested deeper than
``BODY_DEPTH`` (checked before parsing, so no ``RecursionError``), not JSON, holding a
non-finite number (``1e999``, ``NaN``, ``Infinity``: a store holding one would answer
``Infinity`` to every later read), or not an object (400); a literal key anywhere in
it (``check_configuration``'s rules) raises the store's ``InvokerConfigError``.
"""

from __future__ import annotations

import re
from typing import Any

from .._files import NotFinite, strict_json
from ..invokers._store import check_configuration

__all__ = ["BODY_DEPTH", "BODY_MAX", "Refused", "parse_body"]

BODY_MAX = 256 * 1024
BODY_DEPTH = 32  # objects/lists inside each other; a connection needs 3
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class Refused(Exception):
    """A request answered with ``status`` and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_depth(text: str) -> None:
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub('""', text)):
        depth = depth + 1 if bracket in "[{" else depth - 1
        if depth > BODY_DEPTH:
            raise Refused(
                400,
                f"The request body nests objects or lists more than {BODY_DEPTH} deep; "
                "send a JSON object of connection or selection fields.",
            )


def parse_body(raw: bytes | None) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``); see the module docstring."""
    raw = raw or b"{}"
    if len(raw) > BODY_MAX:
        raise Refused(413, "The request body is too large; send at most 256 KiB of JSON.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"The request body is not UTF-8 JSON ({exc}).") from None
    _check_depth(text)
    try:
        data = strict_json(text)
    except NotFinite as exc:
        raise Refused(
            400, f"The request body holds {exc}, which is not a finite number; send one."
        ) from None
    except (ValueError, RecursionError) as exc:
        raise Refused(400, f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise Refused(400, "The request body must be a JSON object.")
    check_configuration(data, "This request")  # literal keys: refused, never echoed
    return data
