"""Splitting rendered text into chat messages at role-marker lines.

    split_messages("You are terse.\\nuser:\\nHi", from_input=None)
    # [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]

A role marker is a line holding only ``system:``, ``user:`` or ``assistant:``
(case-insensitive, optionally ``#`` before it, spaces allowed around). As in
Prompty 0.1.50: text before the first marker is the system message, each message's
content is ``strip()``-ed and a message left empty is dropped. Unlike Prompty 0.1.50:
a body without any marker is one *user* message (a plain prompt is what a user
asks), an empty message in the middle is dropped instead of failing, and a marker on
the very last line (no newline after it) is a marker, not text.

``from_input(i)`` says whether character ``i`` came from a ``{{ ... }}`` expression;
a marker whose colon or surrounding line breaks came from one is not a marker (see
``_render`` for why).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["ROLE_LINE", "find_markers", "split_messages"]

ROLES = ("system", "user", "assistant")

# Prompty 0.1.50: r"(?i)^\s*#?\s*(assistant|function|system|user)\s*:\s*\n". Here `\s`
# never crosses a line break and the end of the text also ends a marker line.
ROLE_LINE = re.compile(
    r"^[^\S\n]*#?[^\S\n]*(system|user|assistant)[^\S\n]*(:)[^\S\n]*$",
    re.IGNORECASE | re.MULTILINE,
)


def find_markers(text: str) -> list[re.Match[str]]:
    return list(ROLE_LINE.finditer(text))


def _is_injected(text: str, match: re.Match[str], from_input: Callable[[int], bool]) -> bool:
    before = match.start() - 1  # the line break that starts the marker line
    after = match.end()  # the line break that ends it
    return (
        from_input(match.start(2))
        or (before >= 0 and from_input(before))
        or (after < len(text) and from_input(after))
    )


def split_messages(
    text: str, *, from_input: Callable[[int], bool] | None
) -> tuple[list[dict[str, str]], list[str]]:
    """(messages, marker lines kept as text because an input produced them)."""
    markers: list[re.Match[str]] = []
    kept_as_text: list[str] = []
    for match in find_markers(text):
        if from_input is not None and _is_injected(text, match, from_input):
            kept_as_text.append(match.group(0).strip())
        else:
            markers.append(match)
    if not markers:
        content = text.strip()
        return ([{"role": "user", "content": content}] if content else []), kept_as_text
    chunks: list[tuple[str, str]] = [("system", text[: markers[0].start()])]
    for i, match in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        chunks.append((match.group(1).lower(), text[match.end() : end]))
    messages = [
        {"role": role, "content": content.strip()} for role, content in chunks if content.strip()
    ]
    return messages, kept_as_text
