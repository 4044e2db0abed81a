"""Names a magic's line refers to: TARGET, ``-i`` values, ``--model``.

    resolve_target(shell, Word('"The Eiffel Tower is in"', quoted=True))  # the text
    resolve_target(shell, Word("prompts/weather.prompty"))                 # a Prompty
    resolve_inputs(shell, [("city", Word("$where"))])                      # a variable
    choose_model(shell, None)       # --model VAR > `model` > the kernel's default

A bare word is a variable first, then a path; one that is neither is an error
naming both and listing the notebook's variables (closest first). The model is
never bound over a ``model`` that holds something else.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
from IPython.core.error import UsageError

from ..invokers._local import model_slot
from ..prompty import Prompty, load
from ._parse import Word

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = [
    "check_input_names",
    "check_required_inputs",
    "choose_model",
    "input_advice",
    "resolve_inputs",
    "resolve_target",
    "user_names",
]

_MISSING: Any = object()


def user_names(shell: Any, near: str = "", *, of: type | tuple[type, ...] | None = None) -> str:
    """A short listing of the notebook's variables (closest to ``near`` first)."""
    hidden = getattr(shell, "user_ns_hidden", {})
    names = [
        n
        for n, v in shell.user_ns.items()
        if not n.startswith("_") and n not in hidden and (of is None or isinstance(v, of))
    ]
    close = difflib.get_close_matches(near, names, n=3, cutoff=0.6) if near else []
    ordered = close + sorted(n for n in names if n not in close)
    if not ordered:
        return "none"
    shown = ", ".join(ordered[:12])
    return shown + (f" and {len(ordered) - 12} more" if len(ordered) > 12 else "")


def _check_value(name: str, value: Any) -> Any:
    if isinstance(value, str | Prompty):
        return value
    if isinstance(value, list | tuple) and value:
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(isinstance(v, dict) and "role" in v and "content" in v for v in value):
            return list(value)
    raise UsageError(
        f"The variable {name!r} holds {type(value).__name__} {_short(value)}; a TARGET "
        "variable must hold a string, a list of strings, chat messages "
        "([{'role': ..., 'content': ...}]) or a Prompty (jupyter_invoker.load(path))."
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def resolve_target(shell: Any, word: Word) -> Any:
    """A quoted literal, the value of a variable, or the Prompty at a path."""
    if word.quoted:
        return word.text
    name = word.text
    if name.isidentifier() and name in shell.user_ns:
        return _check_value(name, shell.user_ns[name])
    path = Path(name).expanduser()
    if path.is_file():
        if path.suffix != ".prompty":
            raise UsageError(
                f"TARGET {name!r} is a file but not a .prompty prompt; give a .prompty path, "
                "a quoted prompt or a variable."
            )
        return load(path)
    raise UsageError(
        f"TARGET {name!r} is neither a notebook variable nor an existing file "
        f"(looked for {path.resolve()}). Variables: {user_names(shell, name)}. "
        f'To run it as the prompt text itself, quote it: %invoke "{name}".'
    )


def resolve_inputs(shell: Any, inputs: list[tuple[str, Word]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, word in inputs:
        if not word.quoted and word.text.startswith("$") and len(word.text) > 1:
            name = word.text[1:]
            if name not in shell.user_ns:
                raise UsageError(
                    f"-i {key}={word.text}: there is no notebook variable {name!r}. "
                    f"Variables: {user_names(shell, name)}."
                )
            values[key] = shell.user_ns[name]
        else:
            values[key] = word.text
    return values


def check_input_names(prompty: Prompty, inputs: dict[str, Any]) -> None:
    """An input the prompt never uses is a misspelling: name the ones it knows."""
    try:
        used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(prompty.template))
    except jinja2.TemplateSyntaxError:
        used = set()
    known = set(prompty.inputs) | set(prompty.sample) | set(used)
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise UsageError(
            f"{prompty.path.name} has no input {', '.join(map(repr, unknown))}; its inputs "
            f"are {', '.join(sorted(known)) or 'none'}. Fix the -i name."
        )


def check_required_inputs(prompty: Prompty, inputs: dict[str, Any]) -> None:
    """A required input with no value, sample or default: say how to give it with ``-i``."""
    missing = [
        name
        for name, spec in prompty.inputs.items()
        if spec.required
        and not spec.has_default
        and name not in inputs
        and name not in prompty.sample
    ]
    if missing:
        given = ", ".join(sorted(inputs)) or "none"
        fill = " ".join(f"-i {name}=..." for name in missing)
        raise UsageError(
            f"{prompty.path.name} needs the input(s) {', '.join(missing)}, not given (-i "
            f"given: {given}). Add {fill} (a value, or $var for a notebook variable)."
        )


def input_advice(message: str) -> str:
    """A render error's ``inputs={'city': ...}`` advice, as the magic's ``-i city=...``."""
    return re.sub(r"inputs=\{'(\w+)': \.\.\.\}", r"-i \1=...", message)


def choose_model(
    shell: Any, var: str | None, *, on_load: Callable[[str], None] | None = None
) -> LanguageModel:
    """``--model VAR`` > the notebook's ``model`` > the kernel's default (bound as ``model``;
    ``on_load(name)`` is called before it loads, the first time)."""
    from ..tracing import LanguageModel  # torch loads with the first local run

    ns = shell.user_ns
    if var is not None:
        value = ns.get(var, _MISSING)
        if value is _MISSING or not isinstance(value, LanguageModel):
            what = "is not defined" if value is _MISSING else f"holds a {type(value).__name__}"
            raise UsageError(
                f"--model {var}: that variable {what}; --model names a variable holding a "
                f"LanguageModel. LanguageModel variables: {user_names(shell, var, of=LanguageModel)}."
            )
        return value
    current = ns.get("model", _MISSING)
    if isinstance(current, LanguageModel):
        return current
    if current is not _MISSING:
        raise UsageError(
            f"The notebook variable `model` holds a {type(current).__name__}, not a "
            "LanguageModel, and the magic will not replace it: pass --model VAR naming a "
            "LanguageModel (e.g. lm = LanguageModel(), then --model lm)."
        )
    lm = model_slot(None, on_load=on_load).model  # shared with execute(): one load per kernel
    ns["model"] = lm
    return lm
