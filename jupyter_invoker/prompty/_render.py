"""Rendering a prompt: inputs merged, Jinja2 in a sandbox, chat messages split out.

    render(prompt, {"city": "Paris"})   # [{"role": "system", ...}, {"role": "user", ...}]

Jinja2 runs in an ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a
missing input is an error naming it (``{% if x is defined %}`` still works), and
``{{ ''.__class__.__mro__ }}`` is refused. Whitespace is Prompty 0.1.50's: its
renderer is a plain ``jinja2.Environment`` (``trim_blocks=False``,
``lstrip_blocks=False``, ``keep_trailing_newline=False``: one final newline of the
template goes), its chat parser ``strip()``-s each message, and a completion prompt
is the rendered text unchanged.

Role injection: an input value never creates a new role. A role-marker line whose
colon, or the line break before or after it, came out of a ``{{ ... }}`` expression
is **kept as text** inside the current message, verbatim: a transcript passed as
input ("User:\\nhi\\nAssistant:\\nhello") stays one message to summarise, instead of
becoming turns. A marker the template writes itself stays a marker, including one
whose role word comes from data (``{{ turn.role }}:`` in a chat-history loop, as in
Prompty's examples). To know which characters came from expressions, the template
is rendered a second time with each expression's output between random sentinels
(a nonce per render, so input text cannot forge them); when that render differs
from the real one after removing the sentinels (a template that post-processes
captured output, ``{% set x %}...{% endset %}{{ x | trim }}``), the check falls
back to refusing any input that contains a role-marker line
(:class:`~jupyter_invoker.exceptions.PromptyRenderError` naming the input).
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import re
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
from jinja2.exceptions import SecurityError

from .._secrets import Secret
from ..exceptions import PromptyRenderError
from ._limits import RENDER_SECONDS, LimitExceeded, run_limited
from ._references import resolve_env
from ._roles import ROLE_LINE, find_markers, split_messages
from ._sandbox import bounded_environment, render_bounded

if TYPE_CHECKING:
    from ._model import Prompty

__all__ = ["merge_inputs", "prepare", "render"]

_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")
_JINJA_FORMATS = frozenset({"jinja2", "jinja"})


_PLAIN = bounded_environment()


@functools.lru_cache(maxsize=128)
def _compile_plain(text: str) -> jinja2.Template:
    return _PLAIN.from_string(text)


@functools.lru_cache(maxsize=128)
def _template_variables(text: str) -> frozenset[str] | None:
    """The names a template reads from its inputs; None when it does not parse (the render
    reports the syntax error)."""
    try:
        return frozenset(jinja2.meta.find_undeclared_variables(_PLAIN.parse(text)))
    except (jinja2.TemplateSyntaxError, RecursionError, MemoryError):
        return None


def _refuse_unknown_inputs(prompty: Prompty, inputs: Mapping[str, Any]) -> None:
    """A misspelt input name must not fall back silently to the sample: refuse any name
    that is not declared under ``inputs``, not in ``sample`` and not read by the template."""
    if prompty.template_format.lower() not in _JINJA_FORMATS:
        return
    used = _template_variables(prompty.template)
    if used is None:
        return
    unknown = [
        key
        for key in inputs
        if key not in used and key not in prompty.inputs and key not in prompty.sample
    ]
    if not unknown:
        return
    known = sorted(used.union(prompty.inputs, prompty.sample))
    name = unknown[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise PromptyRenderError(
        f"{prompty.path}: input {name!r} is not used by this prompt.{hint} Its inputs are: "
        f"{', '.join(known) or 'none'}. Rename the input, or declare it under `inputs:` "
        "in the .prompty file if the template should read it."
    )


def merge_inputs(
    prompty: Prompty, inputs: Mapping[str, Any] | None = None, *, resolve_env_refs: bool = True
) -> dict[str, Any]:
    """Explicit ``inputs`` > ``inputs.<name>.default`` > ``sample`` (``${env:}`` resolved).

    An input name the prompt does not know (not under ``inputs``, not in ``sample``, not
    read by the template) is an error naming the close match, so a typo never falls back
    to the sample unnoticed. With ``resolve_env_refs=False`` (the server's preview, which
    goes to a browser) an ``${env:VAR}`` in ``sample`` or a default stays as its reference
    text: an environment value never reaches the rendered text.
    """
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        raise PromptyRenderError(
            f"{prompty.path}: inputs must be a mapping of input name to value, not "
            f"{type(inputs).__name__}. Pass e.g. {{'city': 'Paris'}}."
        )
    for key in inputs:
        if not isinstance(key, str):
            raise PromptyRenderError(
                f"{prompty.path}: input names must be text; got {type(key).__name__} {key!r}."
            )
    if inputs:
        _refuse_unknown_inputs(prompty, inputs)
    fallback: dict[str, tuple[Any, str]] = {
        key: (value, f"sample.{key}") for key, value in prompty.sample.items()
    }
    for name, spec in prompty.inputs.items():
        if spec.has_default:
            fallback[name] = (spec.default, f"inputs.{name}.default")
    merged = {
        key: (
            resolve_env(value, path=prompty.path, field=field, secrets=False)
            if resolve_env_refs
            else reveal_references(value)
        )
        for key, (value, field) in fallback.items()
        if key not in inputs
    }
    merged.update(inputs)
    missing = [
        name for name, spec in prompty.inputs.items() if spec.required and name not in merged
    ]
    if missing:
        raise PromptyRenderError(
            f"{prompty.path}: required input(s) {', '.join(missing)} not given. Inputs given: "
            f"{', '.join(sorted(merged)) or 'none'}. Pass them, e.g. inputs={{'{missing[0]}': ...}}."
        )
    return merged


def _template_line(exc: BaseException) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_error(prompty: Prompty, exc: Exception, given: Mapping[str, Any]) -> PromptyRenderError:
    line = _template_line(exc)
    where = f"{prompty.path}:{prompty.template_line + line - 1}" if line else str(prompty.path)
    message = str(exc)
    if isinstance(exc, LimitExceeded):
        return PromptyRenderError(f"{where}: {message}")
    if isinstance(exc, RecursionError):
        return PromptyRenderError(
            f"{where}: the template nests or recurses too deeply to render (a macro calling "
            "itself without end, or thousands of nested blocks). Simplify it."
        )
    if isinstance(exc, SecurityError):
        return PromptyRenderError(
            f"{where}: the template tried an unsafe operation ({message}). Templates run in "
            "a sandbox and cannot reach Python internals or change their inputs; remove it."
        )
    if isinstance(exc, jinja2.UndefinedError):
        names = ", ".join(sorted(given)) or "none"
        missing = _UNDEFINED.match(message)
        if missing:
            name = missing.group(1)
            return PromptyRenderError(
                f"{where}: the template uses input `{name}`, which was not given. Inputs "
                f"given: {names}. Pass it (inputs={{'{name}': ...}}), add it to `sample`, give "
                f"it a default (`inputs.{name}.default`), or test `{{% if {name} is defined %}}`."
            )
        return PromptyRenderError(
            f"{where}: the template used something undefined ({message}). Inputs given: "
            f"{names}. Check the input's structure."
        )
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return PromptyRenderError(
            f"{where}: template syntax error: {exc.message}. Fix the template."
        )
    if isinstance(exc, jinja2.TemplateNotFound):
        return PromptyRenderError(
            f"{where}: the template includes {message!r}; {{% include %}} / {{% extends %}} "
            "are not supported in .prompty templates. Inline the text."
        )
    return PromptyRenderError(
        f"{where}: rendering the template failed: {type(exc).__name__}: {message}"
    )


def _render_text(prompty: Prompty, values: Mapping[str, Any]) -> str:
    try:
        return render_bounded(_compile_plain(prompty.template), values)
    except Exception as exc:
        raise _render_error(prompty, exc, values) from exc


# The tagged render wraps every expression's output in sentinels carrying a nonce that
# is fresh for each render; the environment and compiled templates are shared, the
# nonce travels in a context variable (so concurrent renders cannot mix them up).
_NONCE: contextvars.ContextVar[str] = contextvars.ContextVar("jupyter_invoker_render_nonce")
_SENTINEL = re.compile("\ue000([0-9a-f]{16})\ue001|\ue002([0-9a-f]{16})\ue003")


def _tag(value: Any) -> str:
    nonce = _NONCE.get()
    return f"\ue000{nonce}\ue001{value}\ue002{nonce}\ue003"


_TAGGED = bounded_environment(_tag)


@functools.lru_cache(maxsize=128)
def _compile_tagged(text: str) -> jinja2.Template:
    return _TAGGED.from_string(text)


def _provenance(
    prompty: Prompty, values: Mapping[str, Any], text: str
) -> Callable[[int], bool] | None:
    """``from_input(i)`` for ``text``, or None when the tagged render does not line up."""
    nonce = secrets.token_hex(8)
    token = _NONCE.set(nonce)
    try:
        tagged = render_bounded(_compile_tagged(prompty.template), values)
    except Exception:
        return None
    finally:
        _NONCE.reset(token)
    pieces: list[str] = []
    mask = bytearray()
    depth = position = 0
    for match in _SENTINEL.finditer(tagged):
        if nonce not in (match.group(1), match.group(2)):
            continue  # sentinel-like text from an input: ordinary characters
        chunk = tagged[position : match.start()]
        pieces.append(chunk)
        mask.extend((b"\x01" if depth else b"\x00") * len(chunk))
        depth = depth + 1 if match.group(1) == nonce else max(depth - 1, 0)
        position = match.end()
    chunk = tagged[position:]
    pieces.append(chunk)
    mask.extend((b"\x01" if depth else b"\x00") * len(chunk))
    if "".join(pieces) != text:
        return None
    return lambda i: bool(mask[i])


def _strings(value: Any, name: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, Mapping):
        return [pair for key, item in value.items() for pair in _strings(item, f"{name}.{key}")]
    if isinstance(value, (list, tuple)):
        return [pair for i, item in enumerate(value) for pair in _strings(item, f"{name}[{i}]")]
    return []


def _could_inject(value: Any) -> bool:
    """Whether an input could put a colon or a line break into the text: without one, no
    input can make or complete a role-marker line, and the tagged render is skipped.
    Objects other than plain data render through their ``str()`` and always count."""
    if isinstance(value, str):
        return ":" in value or "\n" in value or "\r" in value
    if value is None or isinstance(value, (bool, int, float)):
        return False
    if isinstance(value, Mapping):
        return any(_could_inject(k) or _could_inject(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_could_inject(item) for item in value)
    return True


def _refuse_marker_inputs(prompty: Prompty, values: Mapping[str, Any]) -> None:
    for key, item in values.items():
        for name, text in _strings(item, key):
            match = ROLE_LINE.search(text)
            if match:
                raise PromptyRenderError(
                    f"{prompty.path}: input `{name}` contains the role-marker line "
                    f"{match.group(0).strip()!r}, and this template post-processes rendered "
                    "text ({% set %} blocks, macros), so it cannot be kept as plain text "
                    "safely. Remove the marker line from the input, or output the input "
                    "directly with {{ ... }}."
                )


def reveal_references(value: Any) -> Any:
    """``value`` with ``${env:}`` references left as written (a ``Secret`` shown as ``***``)."""
    if isinstance(value, Mapping):
        return {key: reveal_references(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal_references(item) for item in value]
    return str(value) if isinstance(value, Secret) else value


def render(
    prompty: Prompty, inputs: Mapping[str, Any] | None = None, *, resolve_env_refs: bool = True
) -> list[dict[str, str]] | str:
    """The chat messages or, for ``api: completion``, the rendered text.

    ``resolve_env_refs=False``: ``${env:}`` in sample / defaults rendered as written
    (see :func:`merge_inputs`); a kernel resolves them, the server's preview does not.
    A render is bounded (``_limits``: ``RENDER_SECONDS``, ``MAX_RENDER_CHARS``, ...):
    past a bound it fails with a :class:`PromptyRenderError` naming it.
    """
    if prompty.template_format.lower() not in _JINJA_FORMATS:
        raise PromptyRenderError(
            f"{prompty.path}: template format {prompty.template_format!r} is not supported; "
            "only jinja2 templates render here. Set `template: jinja2` and write the "
            "template in Jinja2."
        )
    try:
        return run_limited(
            lambda: _render(prompty, inputs, resolve_env_refs),
            RENDER_SECONDS,
            "rendering the template",
        )
    except LimitExceeded as exc:
        raise PromptyRenderError(f"{prompty.path}: {exc}") from None


def _render(
    prompty: Prompty, inputs: Mapping[str, Any] | None, resolve_env_refs: bool
) -> list[dict[str, str]] | str:
    values = merge_inputs(prompty, inputs, resolve_env_refs=resolve_env_refs)
    text = _render_text(prompty, values)
    if prompty.api == "completion":
        return text
    from_input: Callable[[int], bool] | None = None
    if find_markers(text) and _could_inject(values):
        from_input = _provenance(prompty, values, text)
        if from_input is None:
            _refuse_marker_inputs(prompty, values)
    messages, _ = split_messages(text, from_input=from_input)
    if not messages:
        raise PromptyRenderError(
            f"{prompty.path}: the template rendered no message text (only role markers or "
            "whitespace). Check the template and its inputs."
        )
    return messages


def prepare(
    prompty: Prompty, inputs: Mapping[str, Any] | None = None
) -> list[dict[str, str]] | str:
    """``prompty.render(inputs)``: chat messages, or the text of a completion prompt."""
    return render(prompty, inputs)
