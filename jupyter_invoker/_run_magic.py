"""What ``%%invoke`` and ``%%generate`` do once their arguments are read.

    run_invoke(shell, InvokeOptions(target=Word('"The Eiffel Tower is in"', quoted=True)), body)
    run_generate(shell, GenerateOptions(max_new_tokens=3), body)

Steps of ``%invoke TARGET``: resolve TARGET (a quoted literal, a notebook variable, or
a ``.prompty`` path, in that order) and the ``-i`` inputs; choose the invoker(s) (the
``--invoker`` list > the selection store for that prompt > ``%invoker use NAME`` >
the file's own > ``local``); then run — locally inside the tracing contexts with the
cell body (``_local_run``), or through ``execute`` for any other invoker; several
invokers at once side by side (``_many``). Text streams into one display
(``_display``); the result is the cell's value, shown once. The local model is
``--model VAR``, else the notebook's ``model`` when it is a ``LanguageModel``, else the
kernel's default model, bound as ``model``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._display import LiveOutput, suppress_value
from ._magic_names import (
    Word,
    check_input_names,
    check_required_inputs,
    choose_model,
    input_advice,
    resolve_inputs,
    resolve_target,
)

if TYPE_CHECKING:
    from .invokers import ExecutionResult
    from .prompty import Prompty
    from .tracing import LanguageModel

__all__ = [
    "GenerateOptions",
    "InvokeOptions",
    "Word",
    "kernel_default",
    "run_generate",
    "run_invoke",
    "set_kernel_default",
]

LOCAL = frozenset({"local", "huggingface"})
DEFAULT_MAX_NEW_TOKENS = 64
_kernel: dict[str, str] = {}  # "invoker": the name `%invoker use NAME` chose for this kernel


@dataclass(kw_only=True)
class GenerateOptions:
    """The options ``%%generate`` and ``%%invoke`` share."""

    model: str | None = None
    max_new_tokens: int | None = None
    trace: bool = False
    save_all: bool = False
    save: list[str] = field(default_factory=list)
    display: bool = True
    out: str | None = None
    line: str = ""


@dataclass(kw_only=True)
class InvokeOptions(GenerateOptions):
    target: Word
    invokers: list[str] = field(default_factory=list)
    inputs: list[tuple[str, Word]] = field(default_factory=list)


def kernel_default() -> str | None:
    """The invoker ``%invoker use NAME`` chose for this kernel (``None``: none)."""
    return _kernel.get("invoker")


def set_kernel_default(name: str | None) -> None:
    if name is None:
        _kernel.pop("invoker", None)
    else:
        _kernel["invoker"] = name


# -- invokers --------------------------------------------------------------------------
def canonical(name: str) -> tuple[str, bool]:
    """``(name, is_connection)`` for a registered invoker or a named connection."""
    from .exceptions import InvokerError
    from .invokers import InvokerFactory
    from .invokers._store import read_store

    connections = read_store()["connections"]
    if name in connections and name.lower() not in InvokerFactory.names():
        return name, True
    try:
        InvokerFactory.get(name)
    except InvokerError as exc:
        known = ", ".join(sorted(connections))
        extra = f" Named connections: {known}." if known else ""
        raise UsageError(f"{exc}{extra}") from None
    return InvokerFactory.canonical_name(name), False


def _literal_prompty(value: Any) -> Prompty:
    """A literal prompt (text or chat messages) as an in-memory Prompty, for execute()."""
    from .prompty import Prompty, PromptyInput

    if isinstance(value, str):
        messages = [{"role": "user", "content": value}]
    elif value and isinstance(value[0], str):  # a batch: local only (checked by run_invoke)
        messages = [{"role": "user", "content": text} for text in value]
    else:
        messages = value
    template = "\n".join(f"{m['role']}:\n{{{{ m{i} }}}}\n" for i, m in enumerate(messages))
    prompty = Prompty(path=Path.cwd() / "<%invoke>.prompty", template=template, name="%invoke")
    prompty.inputs = {f"m{i}": PromptyInput(type="string") for i in range(len(messages))}
    prompty.sample = {f"m{i}": str(m["content"]) for i, m in enumerate(messages)}
    return prompty


@dataclass
class Job:
    """One run of the prompt on one invoker."""

    title: str
    name: str | None  # None: execute() chooses (the selection store)
    local: bool
    prompty: Prompty | None
    content: Any = None


def plan_jobs(opts: InvokeOptions, target: Any, inputs: dict[str, Any]) -> list[Job]:
    from .invokers._execute import plan
    from .invokers._selection import selection
    from .prompty import Prompty, prepare

    names: list[str | None] = [canonical(n)[0] for n in opts.invokers]
    is_prompty = isinstance(target, Prompty)
    if not names:
        if is_prompty and selection(target.path):
            names = [None]  # the prompt's own selection, read by plan() / execute()
        else:
            default = kernel_default()
            names = [canonical(default)[0] if default else (None if is_prompty else "local")]
    if inputs and not is_prompty:
        raise UsageError(
            "-i/--input fills the inputs of a .prompty prompt; this TARGET is prompt text "
            "already. Drop -i, or pass a .prompty path or a Prompty variable."
        )
    if is_prompty:
        check_input_names(target, inputs)
        check_required_inputs(target, inputs)
    jobs = []
    for name in names:
        if not is_prompty and name in LOCAL:  # prompt text on the local model: no store read
            jobs.append(Job(str(name), name, True, None, target))
            continue
        prompty = target if is_prompty else _literal_prompty(target)
        resolved, run_prompty = plan(prompty, name)
        title = name if name and name != resolved else resolved
        if resolved not in LOCAL:
            jobs.append(Job(title, name, False, prompty))
        elif is_prompty:
            jobs.append(Job(title, name, True, run_prompty, prepare(run_prompty, inputs)))
        else:
            jobs.append(Job(title, name, True, None, target))
    return jobs


def generate_kwargs(job: Job, max_new_tokens: int | None, lm: LanguageModel) -> dict[str, Any]:
    """``generate`` options of a local job: the prompt's parameters, as the local invoker
    reads them (sampling, seed, stop strings), ``--max-new-tokens`` over its max_tokens."""
    if job.prompty is None:
        return {"max_new_tokens": max_new_tokens or DEFAULT_MAX_NEW_TOKENS}
    from .invokers._local import LocalInvoker

    kwargs = LocalInvoker(job.prompty).generate_kwargs()
    if max_new_tokens is not None:
        kwargs["max_new_tokens"] = max_new_tokens
    if "stop_strings" in kwargs:
        kwargs["tokenizer"] = lm.tokenizer
    seed = job.prompty.model.parameters.get("seed")
    if seed is not None and kwargs.get("do_sample"):
        import torch

        torch.manual_seed(int(seed))
    return kwargs


def header(result: ExecutionResult, title: str | None = None) -> str:
    """``invoker · model · N tokens · T s`` (a connection's name in brackets)."""
    usage = result.usage or {}
    tokens = usage.get("completion_tokens")
    name = result.invoker if title in (None, result.invoker) else f"{result.invoker} ({title})"
    model = result.model or "?"
    if model.startswith(("/", "~", ".")):  # a local folder: its name says enough
        model = Path(model).name
    parts = [name, model, f"{tokens} tokens" if tokens is not None else "tokens: n/a"]
    parts.append(f"{result.elapsed_s or 0:.2f} s")
    return " · ".join(parts)


def run_api(job: Job, inputs: dict[str, Any], opts: InvokeOptions, live: LiveOutput | None,
            pane: int) -> ExecutionResult:  # fmt: skip
    from .invokers import execute

    params = {"max_tokens": opts.max_new_tokens} if opts.max_new_tokens else None
    feed = None if live is None or not live.enabled else (lambda p: live.feed(pane, p))
    assert job.prompty is not None
    return execute(job.prompty, inputs or None, job.name, parameters=params, on_chunk=feed)


def _finish(shell: Any, result: Any, opts: InvokeOptions | GenerateOptions, shown: bool) -> Any:
    if opts.out:
        shell.user_ns[opts.out] = result
    if shown:
        suppress_value(shell, result)
    return result


def show_browser(result: ExecutionResult, opts: InvokeOptions | GenerateOptions) -> None:
    """The activation browser of a local run that saved something, when the magic
    displays (``jupyter_invoker.show`` displays itself)."""
    import importlib

    from ._local_run import saved_anything

    if not opts.display or result.generator is None or not saved_anything(result.generator):
        return
    package = importlib.import_module("jupyter_invoker")
    try:
        show = package.show
    except AttributeError:  # the widgets are not part of this installation
        return
    show(result)


def _prepare_local(
    shell: Any, opts: GenerateOptions, magic: str, body: str
) -> tuple[LanguageModel, Any]:
    """The local model and the compiled cell body, or a UsageError saying what is wrong."""
    from ._local_run import check_patterns, compile_body

    lm = choose_model(shell, opts.model)
    try:
        check_patterns(lm, opts.save)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return lm, compile_body(shell, magic, opts.line, body)


def _run_live(
    shell: Any,
    opts: GenerateOptions,
    lm: LanguageModel,
    live: LiveOutput,
    run: Callable[[], ExecutionResult],
    *,
    timed: bool,
) -> Any:
    """Run a local magic into its live display: the final header (or what stopped it,
    after how long when ``timed``), then the browser and the cell's value."""
    __tracebackhide__ = True
    live.start()
    started = time.perf_counter()
    try:
        result = run()
    except BaseException as exc:
        what = (
            "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}"
        )
        after = f" after {time.perf_counter() - started:.2f} s" if timed else ""
        live.finish(0, header=f"local · {Path(lm.name).name} · {what}{after}")
        live.close()
        raise
    live.finish(0, header=header(result), text=result.text)
    live.close()
    show_browser(result, opts)
    return _finish(shell, result, opts, opts.display)


def run_invoke(shell: Any, opts: InvokeOptions, body: str) -> Any:
    """``%invoke`` / ``%%invoke``: see the module docstring."""
    __tracebackhide__ = True
    from ._local_run import has_code, run_local
    from .exceptions import PromptyRenderError

    target = resolve_target(shell, opts.target)
    inputs = resolve_inputs(shell, opts.inputs)
    try:
        jobs = plan_jobs(opts, target, inputs)
    except PromptyRenderError as exc:  # a missing input: one line, advising -i
        raise UsageError(input_advice(str(exc))) from None
    api = [job.title for job in jobs if not job.local]
    if api and isinstance(target, list) and target and isinstance(target[0], str):
        raise UsageError(
            "A list of prompts runs as one batch on the local model only; give "
            f"{', '.join(api)} one prompt (a string or chat messages)."
        )
    if api and has_code(body):
        raise UsageError(
            f"%%invoke runs its body inside the local model's Invoker, but this prompt runs "
            f"on {', '.join(api)}, where there is no model to look into. Use the line form "
            "(%invoke ... with no body) for API invokers, or add --invoker local to run the "
            "prompt on the local model with this body."
        )
    if len(jobs) > 1:
        from ._many import run_many

        results = run_many(shell, jobs, inputs, opts, body)
        for result in results:  # a failed API invoker's place holds its exception
            if not isinstance(result, Exception):
                show_browser(result, opts)
        return _finish(shell, results, opts, opts.display)
    job = jobs[0]
    live = LiveOutput([job.title], enabled=opts.display)
    if not job.local:
        live.start()
        try:
            result = run_api(job, inputs, opts, live, 0)
        except BaseException as exc:
            live.finish(0, header=f"{job.title} · failed: {type(exc).__name__}")
            live.close()
            if isinstance(exc, PromptyRenderError):
                raise UsageError(input_advice(str(exc))) from None
            raise
        live.finish(0, header=header(result, job.title), text=result.text)
        live.close()
        return _finish(shell, result, opts, opts.display)
    lm, code = _prepare_local(shell, opts, "%%invoke", body)
    kwargs = generate_kwargs(job, opts.max_new_tokens, lm)
    return _run_live(
        shell, opts, lm, live,
        lambda: run_local(shell, lm, job.content, kwargs, code=code, trace=opts.trace,
                          save_all=opts.save_all, save=opts.save, live=live),
        timed=True,
    )  # fmt: skip


def run_generate(shell: Any, opts: GenerateOptions, body: str) -> Any:
    """``%%generate``: the body inside one Generator with ``invoke`` bound."""
    __tracebackhide__ = True
    from ._local_run import run_generate_body

    lm, code = _prepare_local(shell, opts, "%%generate", body)
    kwargs = {"max_new_tokens": opts.max_new_tokens or DEFAULT_MAX_NEW_TOKENS}
    live = LiveOutput(["generate"], enabled=opts.display)
    return _run_live(
        shell, opts, lm, live,
        lambda: run_generate_body(shell, lm, kwargs, code=code, trace=opts.trace,
                                  save_all=opts.save_all, save=opts.save, live=live),
        timed=False,
    )  # fmt: skip
