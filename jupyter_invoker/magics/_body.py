"""A magic's local run: the Generator/Invoker contexts around a cell body.

    result = run_local(shell, lm, "The Eiffel Tower is in the city of",
                       LocalOptions({"max_new_tokens": 5}),
                       code=compile_body(shell, "%%invoke", line, cell), save_all=True, live=live)
    # == with lm.generate(max_new_tokens=5) as generator:
    #        with generator.invoke(prompt) as invoker:
    #            <the cell body>

``model``/``generator``/``invoker`` (and ``invoke`` for ``%%generate``) are bound in
the user namespace; the body runs there as ordinary Python, so its tracebacks show
the user's own cell lines. Generated text reaches ``live`` through a transformers
streamer handed to ``generate`` (the public tracing API passes it through). The run
itself -- the model's lock, seed, stop strings, the result -- is the local invoker's
one run function, the same that ``execute()`` uses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType
from typing import TYPE_CHECKING, Any

from ..exceptions import BodySyntaxError, TracingError
from ..invokers import ExecutionResult
from ..invokers._local import LocalOptions, run_generator
from ..invokers._local import run_local as invokers_run_local
from ._display import LiveOutput, TokenStreamer, labelled

if TYPE_CHECKING:
    from ..tracing import Generator, Invoker, LanguageModel

__all__ = ["check_patterns", "compile_body", "has_code", "run_generate_body", "run_local"]


def has_code(body: str) -> bool:
    """Whether ``body`` holds anything but blank lines and comments."""
    return any(line.strip() and not line.strip().startswith("#") for line in body.splitlines())


def running_cell(shell: Any) -> int:
    """The execution count of the cell running now, as its tracebacks name it (``In[N]``).

    IPython counts the cell up before running it, so ``shell.execution_count`` is the
    next cell's number by then; the cell's own number is that of its compiled code,
    found on the stack."""
    cells: dict[str, int] = getattr(shell.compile, "_filename_map", {})
    frame = sys._getframe(1)
    while frame is not None:
        number = cells.get(frame.f_code.co_filename)
        if number is not None:
            return number
        frame = frame.f_back  # type: ignore[assignment]
    return int(shell.execution_count)


def compile_body(shell: Any, magic: str, line: str, body: str) -> CodeType | None:
    """The cell body compiled as the user's cell (its line numbers and ``In[N]`` match)."""
    if not has_code(body):
        return None
    transformed = shell.transform_cell(body)
    # The magic's own line becomes a comment, so line N of the cell is line N here.
    source = f"# {magic} {line}\n{transformed}"
    raw = f"{magic} {line}\n{body}"
    name = shell.compile.cache(source, running_cell(shell), raw_code=raw)
    try:
        code: CodeType = compile(source, name, "exec", shell.compile.flags, True)
    except SyntaxError as exc:  # shown as IPython shows a cell's own syntax error
        raise BodySyntaxError(exc, shell) from exc
    return code


def _exec(shell: Any, code: CodeType | None) -> None:
    __tracebackhide__ = True
    if code is not None:
        exec(code, shell.user_global_ns, shell.user_ns)


def check_patterns(lm: LanguageModel, patterns: list[str]) -> None:
    """Raise ValueError naming a ``--save`` pattern that matches no module."""
    try:
        lm.modules_matching(patterns, option="--save {!r}")
    except TracingError as exc:
        raise ValueError(str(exc)) from None


def save_every_step(invoker: Invoker, steps: int, only: list[str] | None = None) -> None:
    """``invoker.save_all(only=...)`` for each of the next ``steps`` steps (``only``: the
    ``--save`` globs; ``None``: every module); the body's step stays where it was."""
    here = invoker.step
    try:
        for step in range(here, here + steps):
            invoker.step = step
            invoker.save_all(only=only)
    finally:
        invoker.step = here


def _streamer(lm: LanguageModel, live: LiveOutput | None, pane: int) -> TokenStreamer | None:
    if live is None or not live.enabled:
        return None
    segments: dict[int, list[tuple[str, str]]] = {}

    def on_text(segment: int, rows: list[tuple[str, str]], tokens: int) -> None:
        segments[segment] = rows
        every = [pair for pairs in segments.values() for pair in pairs]
        live.set_text(pane, labelled(every), tokens=tokens if len(every) == 1 else None)

    return TokenStreamer(lm.tokenizer, on_text)


def run_local(
    shell: Any,
    lm: LanguageModel,
    content: Any,
    options: LocalOptions,
    *,
    code: CodeType | None = None,
    trace: bool = False,
    save_all: bool = False,
    save: list[str] | None = None,
    live: LiveOutput | None = None,
    pane: int = 0,
) -> ExecutionResult:
    """One invoke of ``content`` with the body ``code`` inside it; see the module docstring."""
    __tracebackhide__ = True
    ns = shell.user_ns
    steps = 1 if trace else int(options.generate["max_new_tokens"])
    only = None if save_all else save or None

    def body(generator: Generator, invoker: Invoker) -> None:
        __tracebackhide__ = True
        ns["generator"] = generator
        ns["invoker"] = invoker
        if save_all or save:
            save_every_step(invoker, steps, only)
        _exec(shell, code)

    result = invokers_run_local(lm, content, options.generate, trace=trace, seed=options.seed,
                                body=body, streamer=_streamer(lm, live, pane))  # fmt: skip
    return result


class _SavingInvoke:
    """``generator.invoke`` whose invokes save every module (``--save-all``), or the
    ``--save`` ones, at every step."""

    def __init__(self, invoke: Callable[..., Invoker], steps: int, only: list[str] | None) -> None:
        self._invoke = invoke
        self._steps = steps
        self._only = only

    def __call__(self, input: Any, **kwargs: Any) -> _SavingContext:
        return _SavingContext(self._invoke(input, **kwargs), self._steps, self._only)


class _SavingContext:
    def __init__(self, invoker: Invoker, steps: int, only: list[str] | None) -> None:
        self._invoker = invoker
        self._steps = steps
        self._only = only

    def __enter__(self) -> Invoker:
        invoker = self._invoker.__enter__()
        try:
            save_every_step(invoker, self._steps, self._only)
        except BaseException as exc:
            invoker.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return invoker

    def __exit__(self, *exc: Any) -> None:
        self._invoker.__exit__(*exc)


def run_generate_body(
    shell: Any,
    lm: LanguageModel,
    options: LocalOptions,
    *,
    code: CodeType | None,
    trace: bool = False,
    save_all: bool = False,
    save: list[str] | None = None,
    live: LiveOutput | None = None,
) -> ExecutionResult:
    """``%%generate``: the body inside one Generator, ``invoke`` bound to its invoke
    (saving every module at every step with ``--save-all``, the ``--save`` ones with
    ``--save PATTERN``)."""
    __tracebackhide__ = True
    ns = shell.user_ns
    steps = 1 if trace else int(options.generate["max_new_tokens"])

    def body(generator: Generator) -> None:
        __tracebackhide__ = True
        ns["generator"] = generator
        saving = save_all or bool(save)
        only = None if save_all else save
        ns["invoke"] = _SavingInvoke(generator.invoke, steps, only) if saving else generator.invoke
        _exec(shell, code)

    return run_generator(lm, options.generate, body, trace=trace, seed=options.seed,
                         streamer=_streamer(lm, live, 0))  # fmt: skip
