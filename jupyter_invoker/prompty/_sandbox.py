"""The Jinja2 sandbox prompts render in, with bounded output and work.

    env = bounded_environment()                      # or bounded_environment(finalize=f)
    text = render_bounded(env.from_string(src), values)

Jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals
and from changing their inputs; it does not bound what a template builds. Here every
operation that can make a value much larger than its operands is checked *before* it
runs, against the bounds of ``_limits``: ``*`` and ``**`` and ``%`` (intercepted
operators), ``~`` (concatenation, compiled to a checked join), the string methods
that pad, repeat, replace or format (``center``, ``ljust``, ``rjust``, ``zfill``,
``expandtabs``, ``replace``, ``join``, ``format``), and every filter (an integer
argument over ``MAX_WIDTH`` is refused; ``replace``, ``format``, ``batch`` and
``tojson`` are checked for what they would build). Output is collected piece by
piece and stops at ``MAX_RENDER_CHARS``. Time is bounded by the caller
(``_limits.run_limited``), since loops are the one thing no per-operation check sees.
"""

from __future__ import annotations

import functools
import operator
import re
import string
from collections.abc import Callable, Iterable
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ._limits import MAX_RENDER_CHARS, MAX_WIDTH, LimitExceeded, text_size

__all__ = ["bounded_environment", "render_bounded"]

_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
# Filters whose integer arguments are widths or counts of what they build.
_WIDTH_FILTERS = frozenset(
    {"batch", "center", "indent", "slice", "tojson", "truncate", "urlize", "wordwrap"}
)
_FORMAT_WIDTH = re.compile(r"(\d+)")
_PERCENT_SPEC = re.compile(r"%[^%a-zA-Z]*[a-zA-Z%]")


def _too_large(what: str, size: int) -> LimitExceeded:
    return LimitExceeded(
        f"{what} would build {size:,} characters or items, more than the "
        f"{MAX_RENDER_CHARS:,} a render may hold. Make the template build less."
    )


def _too_wide(what: str, value: int) -> LimitExceeded:
    return LimitExceeded(
        f"{what} was given {value:,}, more than the {MAX_WIDTH:,} allowed as a width, "
        "count or precision while rendering. Use a smaller number."
    )


def _check_size(what: str, size: int) -> None:
    if size > MAX_RENDER_CHARS:
        raise _too_large(what, size)


def _check_ints(what: str, args: Iterable[Any]) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
            raise _too_wide(what, value)


def _check_format_spec(what: str, fmt: str, values: Iterable[Any], *, percent: bool) -> None:
    """Widths and precisions in a ``str.format`` (or, ``percent``, a ``%``) format string;
    a width taken from the arguments (``{:{w}}``, ``%*d``) is checked among ``values``."""
    if percent:
        specs = _PERCENT_SPEC.findall(fmt)
        dynamic = any("*" in spec for spec in specs)
    else:
        try:
            specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(fmt)]
        except ValueError:
            specs = []
        dynamic = any("{" in spec for spec in specs)
    for spec in specs:
        _check_ints(what, (int(number) for number in _FORMAT_WIDTH.findall(spec)))
    if dynamic:
        _check_ints(what, values)


def _strings(values: Iterable[Any]) -> int:
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in values)


def _replace_size(text: str, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and not isinstance(times, bool) and text_size(seq):
                _check_size("Repeating a value with `*`", text_size(seq) * max(times, 0))
    elif op == "+":
        if text_size(left) and text_size(right):
            _check_size("Joining two values with `+`", text_size(left) + text_size(right))
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bits = abs(left).bit_length() * right
            if bits > MAX_RENDER_CHARS:
                raise LimitExceeded(
                    f"`{left} ** {right}` would be a number of about {bits:,} bits, too "
                    "large to compute while rendering. Use a smaller power."
                )
    elif op == "%" and isinstance(left, str):
        items = right if isinstance(right, tuple) else (right,)
        _check_format_spec("A `%` format", left, items, percent=True)
        _check_size("A `%` format", len(left) + _strings(items))


def _check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(owner, str):
        return
    what = f"The string method `{name}`"
    if name in _PADDING:
        _check_ints(what, (*args, *kwargs.values()))
    elif name == "replace" and args:
        _check_size(what, _replace_size(owner, *args[:3]))
    elif name == "join" and args and isinstance(args[0], list | tuple):
        parts = args[0]
        _check_size(what, _strings(parts) + len(owner) * max(len(parts) - 1, 0))


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    what = f"The filter `{name}`"
    if name in _WIDTH_FILTERS:
        _check_ints(what, (*args[1:], *kwargs.values()))
    value = args[0] if args else None
    if name == "indent" and isinstance(value, str):
        width = kwargs.get("width", args[1] if len(args) > 1 else 4)
        if isinstance(width, str):
            _check_size(what, len(value) + (value.count("\n") + 1) * len(width))
    if name == "replace" and isinstance(value, str) and len(args) >= 3:
        _check_size(what, _replace_size(value, *args[1:4]))
    elif name == "format" and isinstance(value, str):
        values = (*args[1:], *kwargs.values())
        _check_format_spec(what, value, values, percent=True)
        _check_size(what, len(value) + _strings(values))


def _guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # A filter marked pass_context / pass_eval_context / pass_environment gets that first.
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_filter(name, args[skip:], kwargs)
        result = func(*args, **kwargs)
        _check_size(f"The filter `{name}`", text_size(result))
        return result

    return guarded


class _Generator(CodeGenerator):
    """Compiles ``a ~ b`` to a join that checks its size first."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        _check_binop(op, left, right)
        return {"*": operator.mul, "**": operator.pow, "%": operator.mod, "+": operator.add}[op](
            left, right
        )

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(f"Calling `{getattr(__obj, '__name__', 'a function')}`", text_size(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            what = "The string method `format`"
            values = [*args, *kwargs.values()]
            if args and isinstance(args[0], dict) and len(args) == 1:
                values += list(args[0].values())  # format_map
            _check_format_spec(what, fmt, values, percent=False)
            _check_size(what, len(fmt) + _strings(values))
            return wrapped(*args, **kwargs)

        return checked

    def bounded_join(self, parts: tuple[Any, ...]) -> str:
        texts = [str(part) for part in parts]
        _check_size("Joining text with `~`", sum(map(len, texts)))
        return "".join(texts)


def bounded_environment(
    finalize: Callable[[Any], Any] | None = None,
) -> ImmutableSandboxedEnvironment:
    """A sandbox with Prompty 0.1.50's whitespace, strict undefined and the bounds above."""
    return _BoundedSandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=False,
        finalize=finalize,
    )


def render_bounded(template: jinja2.Template, values: Any) -> str:
    """``template.render(values)``, stopped once the text passes ``MAX_RENDER_CHARS``."""
    pieces: list[str] = []
    size = 0
    for piece in template.generate(values):
        size += len(piece)
        if size > MAX_RENDER_CHARS:
            raise LimitExceeded(
                f"The rendered text passed {MAX_RENDER_CHARS:,} characters, the most a "
                "prompt may render to. Shorten the template or its inputs."
            )
        pieces.append(piece)
    return "".join(pieces)
