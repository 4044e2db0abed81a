"""``%invoker``: which invoker runs which prompt, in the store ``execute()`` reads.

    %invoker list                                   # every invoker, and what it still needs
    %invoker use serverless for prompts/weather.prompty
    %invoker use openai                             # this kernel's default for %invoke
    %invoker show prompts/weather.prompty
    %invoker clear prompts/weather.prompty

``use NAME for PROMPT`` and ``clear PROMPT`` write the selection store
(``invokers/_selection.py``) that ``execute()``, ``%invoke`` and the sidebar read on
every run. ``use NAME`` alone sets this kernel's default for ``%invoke`` (below a
prompt's own selection, above the file's configuration). ``list`` shows, per
invoker, whether it has what it needs, e.g. its key's variable set, never a value.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.display import display

from ..invokers import clear_selection, invoker_statuses, select_invoker, selections_path
from ..invokers._selection import all_selections, select_connection, selection
from ..prompty import load
from ._plan import canonical, kernel_default, set_kernel_default

__all__ = ["USAGE", "run_invoker_command"]

USAGE = "%invoker list | use NAME [for PROMPT] | show [PROMPT] | clear [PROMPT]"


def _fail(message: str) -> UsageError:
    return UsageError(f"{USAGE}\n%invoker: {message}")


def _statuses() -> list[dict[str, Any]]:
    return [status.to_json() for status in invoker_statuses()]


def _prompt_path(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise _fail(
            f"PROMPT {text!r} is not an existing .prompty file (looked for {path.resolve()})."
        )
    return path


def _invoker_name(name: str) -> tuple[str, bool]:
    try:
        return canonical(name)
    except UsageError as exc:
        raise _fail(str(exc)) from None


def _table(rows: list[dict[str, Any]]) -> dict[str, str]:
    columns = ["name", "kind", "ready", "needs"]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    plain = [" ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    plain += [" ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in cells
    )
    return {
        "text/plain": "\n".join(plain),
        "text/html": f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _chosen(entry: dict[str, Any]) -> str:
    if "connection" in entry:
        return f"connection {entry['connection']}"
    return str(entry.get("invoker"))


def _describe(path: Path) -> str:
    entry = selection(path)
    if entry:
        return f"{path}: {_chosen(entry)} (selected)"
    default = kernel_default()
    if default:
        return f"{path}: {default} (this kernel's default; no selection)"
    return f"{path}: {load(path).invoker} (the file's own; no selection)"


def run_invoker_command(shell: Any, words: list[str]) -> None:
    """Run ``%invoker`` with ``words`` (see the module docstring)."""
    if not words:
        raise _fail("say what to do: list, use, show or clear.")
    command, rest = words[0], words[1:]
    if command == "list" and not rest:
        display(_table(_statuses()), raw=True)
    elif command == "use" and len(rest) == 1:
        name, _ = _invoker_name(rest[0])
        set_kernel_default(name)
        print(f"%invoke runs on {name} in this kernel unless a prompt has its own selection.")
    elif command == "use" and len(rest) == 3 and rest[1] == "for":
        (name, is_connection), path = _invoker_name(rest[0]), _prompt_path(rest[2])
        if is_connection:
            select_connection(path, name)
        else:
            select_invoker(path, name)
        print(f"{path} now runs on {name} (stored in {selections_path()}).")
    elif command == "show" and len(rest) <= 1:
        if rest:
            print(_describe(_prompt_path(rest[0])))
        else:
            print(f"this kernel's default: {kernel_default() or 'none'}")
            stored = all_selections()
            for key, entry in sorted(stored.items()):
                print(f"{key}: {_chosen(entry)}")
            if not stored:
                print(f"no prompt has a selection ({selections_path()})")
    elif command == "clear" and len(rest) <= 1:
        if rest:
            path = _prompt_path(rest[0])
            clear_selection(path)
            print(f"{path}: selection cleared; {_describe(path).split(': ', 1)[1]}")
        else:
            set_kernel_default(None)
            print("this kernel's default invoker is cleared.")
    else:
        raise _fail(f"cannot read {' '.join(words)!r}.")
