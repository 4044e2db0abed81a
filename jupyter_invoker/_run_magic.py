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

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from IPython.core.error import UsageError

from ._display import LiveOutput, suppress_value

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
_MISSING: Any = object()
_kernel: dict[str, str] = {}  # "invoker": the name `%invoker use NAME` chose for this kernel


class Word(NamedTuple):
    """One word of a magic's line; ``quoted`` tells a literal from a variable name."""

    text: str
    quoted: bool = False


@dataclass
class InvokeOptions:
    target: Word
    model: str | None = None
    invokers: list[str] = field(default_factory=list)
    inputs: list[tuple[str, Word]] = field(default_factory=list)
    max_new_tokens: int | None = None
    trace: bool = False
    save_all: bool = False
    save: list[str] = field(default_factory=list)
    display: bool = True
    out: str | None = None
    line: str = ""


@dataclass
class GenerateOptions:
    model: str | None = None
    max_new_tokens: int | None = None
    trace: bool = False
    save_all: bool = False
    display: bool = True
    out: str | None = None
    line: str = ""


def kernel_default() -> str | None:
    """The invoker ``%invoker use NAME`` chose for this kernel (``None``: none)."""
    return _kernel.get("invoker")


def set_kernel_default(name: str | None) -> None:
    if name is None:
        _kernel.pop("invoker", None)
    else:
        _kernel["invoker"] = name


# -- names in the notebook -----------------------------------------------------------
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
    from .prompty import Prompty

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
        from .prompty import load

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
    import jinja2
    import jinja2.meta

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


def choose_model(shell: Any, var: str | None) -> LanguageModel:
    """``--model VAR`` > the notebook's ``model`` > the kernel's default (bound as ``model``)."""
    from .tracing import LanguageModel

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
    from .invokers._local import LocalInvoker

    lm = LocalInvoker._slot(None).model  # shared with execute(): one load per kernel
    ns["model"] = lm
    return lm


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
    from .invokers import selected_invoker
    from .invokers._execute import plan
    from .invokers._selection import selection
    from .prompty import Prompty, prepare

    names: list[str | None] = [canonical(n)[0] for n in opts.invokers]
    is_prompty = isinstance(target, Prompty)
    if not names:
        if is_prompty and (selected_invoker(target.path) or selection(target.path)):
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
    jobs = []
    for name in names:
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


def generate_kwargs(job: Job, max_new_tokens: int | None) -> dict[str, Any]:
    if job.prompty is None:
        return {"max_new_tokens": max_new_tokens or DEFAULT_MAX_NEW_TOKENS}
    from .invokers._local import LocalInvoker

    kwargs = LocalInvoker(job.prompty).generate_kwargs()
    if max_new_tokens is not None:
        kwargs["max_new_tokens"] = max_new_tokens
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


def show_browser(result: ExecutionResult) -> None:
    """The activation browser of a local run (``jupyter_invoker.show`` displays itself)."""
    import importlib

    package = importlib.import_module("jupyter_invoker")
    try:
        show = package.show
    except AttributeError:  # the widgets are not part of this installation
        return
    show(result)


def run_invoke(shell: Any, opts: InvokeOptions, body: str) -> Any:
    """``%invoke`` / ``%%invoke``: see the module docstring."""
    __tracebackhide__ = True
    from ._local_run import check_patterns, compile_body, has_code, run_local, saved_anything

    target = resolve_target(shell, opts.target)
    inputs = resolve_inputs(shell, opts.inputs)
    jobs = plan_jobs(opts, target, inputs)
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
            raise
        live.finish(0, header=header(result, job.title), text=result.text)
        live.close()
        return _finish(shell, result, opts, opts.display)
    lm = choose_model(shell, opts.model)
    try:
        check_patterns(lm, opts.save)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    code = compile_body(shell, "%%invoke", opts.line, body)
    kwargs = generate_kwargs(job, opts.max_new_tokens)
    live.start()
    started = time.perf_counter()
    try:
        result = run_local(shell, lm, job.content, kwargs, code=code, trace=opts.trace,
                           save_all=opts.save_all, save=opts.save, live=live)  # fmt: skip
    except BaseException as exc:
        what = (
            "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}"
        )
        live.finish(0, header=f"local · {Path(lm.name).name} · {what} after "
                    f"{time.perf_counter() - started:.2f} s")  # fmt: skip
        live.close()
        raise
    live.finish(0, header=header(result), text=result.text)
    live.close()
    if opts.display and saved_anything(result.generator):
        show_browser(result)
    return _finish(shell, result, opts, opts.display)


def run_generate(shell: Any, opts: GenerateOptions, body: str) -> Any:
    """``%%generate``: the body inside one Generator with ``invoke`` bound."""
    __tracebackhide__ = True
    from ._local_run import compile_body, run_generate_body, saved_anything

    lm = choose_model(shell, opts.model)
    code = compile_body(shell, "%%generate", opts.line, body)
    kwargs = {"max_new_tokens": opts.max_new_tokens or DEFAULT_MAX_NEW_TOKENS}
    live = LiveOutput(["generate"], enabled=opts.display)
    live.start()
    try:
        result = run_generate_body(shell, lm, kwargs, code=code, trace=opts.trace,
                                   save_all=opts.save_all, live=live)  # fmt: skip
    except BaseException as exc:
        what = (
            "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {type(exc).__name__}"
        )
        live.finish(0, header=f"local · {Path(lm.name).name} · {what}")
        live.close()
        raise
    live.finish(0, header=header(result), text=result.text)
    live.close()
    if opts.display and saved_anything(result.generator):
        show_browser(result)
    return _finish(shell, result, opts, opts.display)
