"""What a magic will do, decided before anything runs: jobs, options, header, defaults.

    jobs = plan_jobs(opts, target, inputs)      # one Job per invoker (--invoker a,b: two)
    kwargs, seed = local_options(job, opts.max_new_tokens)
    header(result, job.title)                   # 'local · SmolLM2-135M-Instruct · 5 tokens · 0.41 s'

Which invoker runs a prompt: the ``--invoker`` list > the prompt's selection in the
store > this kernel's default (``%invoker use NAME``) > the file's own > ``local``.
Prompt text (a quoted literal, a variable) runs on the local model unless an invoker
is named; a ``.prompty`` target is rendered for the local model here, so the run
steps only execute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..exceptions import InvokerError, RunInterrupted
from ..invokers import ExecutionResult, InvokerFactory
from ..invokers._execute import plan
from ..invokers._local import DEFAULT_MAX_NEW_TOKENS, LocalInvoker, LocalOptions
from ..invokers._selection import selection
from ..invokers._store import read_store
from ..prompty import Prompty, PromptyInput, prepare
from ._display import ENDED_AT_ONCE, labelled
from ._names import check_input_names, check_required_inputs
from ._parse import InvokeOptions

__all__ = [
    "Job",
    "canonical",
    "completion_text",
    "header",
    "interrupted",
    "kernel_default",
    "local_options",
    "plan_jobs",
    "set_kernel_default",
]

_kernel: dict[str, str] = {}  # "invoker": the name `%invoker use NAME` chose for this kernel


def kernel_default() -> str | None:
    """The invoker ``%invoker use NAME`` chose for this kernel (``None``: none)."""
    return _kernel.get("invoker")


def set_kernel_default(name: str | None) -> None:
    if name is None:
        _kernel.pop("invoker", None)
    else:
        _kernel["invoker"] = name


def canonical(name: str) -> tuple[str, bool]:
    """``(name, is_connection)`` for a registered invoker or a named connection."""
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
    content: Any = None  # what the local model runs: text, a batch, chat messages


def _as_typed(name: str) -> str:
    """A checked invoker or connection name; an alias stays as typed (``huggingface``), so
    the header can say what ran it (``local (huggingface)``)."""
    checked, is_connection = canonical(name)
    return checked if is_connection else name.strip().lower()


def plan_jobs(opts: InvokeOptions, target: Any, inputs: dict[str, Any]) -> list[Job]:
    """One :class:`Job` per invoker the prompt runs on (see the module docstring)."""
    names: list[str | None] = [_as_typed(n) for n in opts.invokers]
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
        local = name is not None and InvokerFactory.is_local(name)
        if not is_prompty and local:  # prompt text on the local model: no store read
            jobs.append(Job(str(name), name, True, None, target))
            continue
        prompty = target if is_prompty else _literal_prompty(target)
        resolved, run_prompty = plan(prompty, name)
        title = name if name and name != resolved else resolved
        if not InvokerFactory.is_local(resolved):
            jobs.append(Job(title, name, False, prompty))
        elif is_prompty:
            jobs.append(Job(title, name, True, run_prompty, prepare(run_prompty, inputs)))
        else:
            jobs.append(Job(title, name, True, None, target))
    return jobs


def local_options(job: Job, max_new_tokens: int | None) -> LocalOptions:
    """``generate`` options of a local job: the prompt's parameters, as the local invoker
    reads them (sampling, seed, stop strings), ``--max-new-tokens`` over its max_tokens."""
    if job.prompty is None:
        return LocalOptions({"max_new_tokens": max_new_tokens or DEFAULT_MAX_NEW_TOKENS})
    return LocalInvoker(job.prompty).options(max_new_tokens)


def header(result: ExecutionResult, title: str | None = None) -> str:
    """``invoker · model · N tokens · T s`` (a connection's name in brackets)."""
    usage = result.usage or {}
    tokens = usage.get("completion_tokens")
    name = result.invoker if title in (None, result.invoker) else f"{result.invoker} ({title})"
    model = result.model or "?"
    if model.startswith(("/", "~", ".")):  # a local folder: its name says enough
        model = Path(model).name
    count = f"{tokens} token{'' if tokens == 1 else 's'}" if tokens is not None else "tokens: n/a"
    return " · ".join([name, model, count, f"{result.elapsed_s or 0:.2f} s"])


def _prompts(invoker: Any, tokenizer: Any) -> list[str]:
    """The prompt of each batch row of a traced invoke, as the user gave it when it was
    text, else decoded from its tokens."""
    given = invoker.input
    if isinstance(given, str):
        return [given]
    if isinstance(given, list) and given and all(isinstance(g, str) for g in given):
        return list(given)
    if isinstance(given, list) and given and all(isinstance(g, dict) for g in given):
        users = [str(m.get("content", "")) for m in given if m.get("role") == "user"]
        return [users[-1] if users else str(given[-1].get("content", ""))]
    ids, mask = invoker.input_ids, invoker.attention_mask
    if ids is None:
        return []
    rows = [row[m.bool()] for row, m in zip(ids, mask, strict=True)] if mask is not None else ids
    return list(tokenizer.batch_decode(rows, skip_special_tokens=True))


def completion_text(result: ExecutionResult) -> str:
    """The answer as the cell shows it: several completions each after its prompt; one the
    local model ended at once says so instead of showing nothing."""
    if result.generator is None:
        return result.text
    raw = result.raw if isinstance(result.raw, list) else [result.raw]
    tokenizer = result.generator.model.tokenizer
    prompts = [prompt for invoker in raw for prompt in _prompts(invoker, tokenizer)]
    texts = result.extra.get("texts") or [result.text]
    shown = [text if text.strip() else ENDED_AT_ONCE for text in texts]
    if len(prompts) != len(shown):
        prompts = [f"prompt {i}" for i in range(len(shown))]
    return labelled(list(zip(prompts, shown, strict=True)))


def interrupted(exc: KeyboardInterrupt, started: float) -> RunInterrupted:
    """A Ctrl-C / stop-button interrupt of a run, as one sentence (``%tb``: where it hit)."""
    if isinstance(exc, RunInterrupted):
        return exc
    return RunInterrupted(
        f"The run was interrupted after {time.perf_counter() - started:.2f} s and stopped "
        "there; nothing of it is kept, and the model and kernel are as before it."
    )
