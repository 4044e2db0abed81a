"""``%invoke TARGET --invoker local,openai,serverless``: one prompt, several backends.

    results = run_many(shell, jobs, inputs, opts, body)   # ExecutionResult, one per invoker

API invokers run concurrently on one event loop in a worker thread (``execute_async``
through a ``BackgroundRun``, streaming into their own pane); local runs go one after
another on the calling thread meanwhile (the model runs in a greenlet there: a second OS
thread would get its own OpenMP pool and slow it). The answers stand side by side in one
display, each headed by invoker, model, tokens and time. A failure shows
in its pane; the first one is raised once every run has ended. Interrupting cancels
the API calls (their connections close) and stops the local run within one step.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from IPython.core.error import UsageError

from ..invokers import BackgroundRun, ExecutionResult, execute_async
from ._body import check_patterns, compile_body, run_local
from ._display import LiveOutput
from ._names import choose_model, input_advice
from ._parse import InvokeOptions
from ._plan import Job, completion_text, header, interrupted, local_options

__all__ = ["run_many"]


async def _gather(coroutines: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*coroutines, return_exceptions=True))


def run_many(
    shell: Any, jobs: list[Job], inputs: dict[str, Any], opts: InvokeOptions, body: str
) -> list[ExecutionResult | Exception]:
    __tracebackhide__ = True
    live = LiveOutput([job.title for job in jobs], enabled=opts.display)
    outcomes: list[Any] = [None] * len(jobs)
    params = {"max_tokens": opts.max_new_tokens} if opts.max_new_tokens else None
    local = [i for i, job in enumerate(jobs) if job.local]
    code = compile_body(shell, "%%invoke", opts.line, body) if local else None

    def loading(name: str) -> None:
        for i in local:
            live.status(i, f"{jobs[i].title} · loading {name}…")

    lm = choose_model(shell, opts.model, on_load=loading) if local else None
    if lm is not None:
        try:
            check_patterns(lm, opts.save)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def feeder(pane: int) -> Any:
        return None if not live.enabled else (lambda piece: live.feed(pane, piece))

    api = [i for i, job in enumerate(jobs) if not job.local]
    coroutines = [
        execute_async(
            jobs[i].prompty,  # type: ignore[arg-type]
            inputs or None,
            jobs[i].name,
            parameters=params,
            on_chunk=feeder(i),
        )
        for i in api
    ]
    live.start()
    started = time.perf_counter()
    background = (
        BackgroundRun(_gather(coroutines), name="jupyter_invoker-many") if coroutines else None
    )
    try:  # an interrupt from here on cancels the API calls, even before they are awaited
        if background is not None:
            background.start()
        for i in local:
            assert lm is not None
            options = local_options(jobs[i], opts.max_new_tokens)
            try:
                outcomes[i] = run_local(shell, lm, jobs[i].content, options, code=code,
                                        trace=opts.trace, save_all=opts.save_all,
                                        save=opts.save, live=live, pane=i)  # fmt: skip
            except Exception as exc:
                outcomes[i] = exc
            _show(live, i, jobs[i].title, outcomes[i])
        if background is not None:
            for i, outcome in zip(api, background.result(), strict=False):
                outcomes[i] = outcome
                _show(live, i, jobs[i].title, outcome)
    except BaseException as exc:
        if background is not None:
            background.cancel()
        for i, job in enumerate(jobs):
            if outcomes[i] is None:
                live.finish(i, header=f"{job.title} · interrupted")
        live.close()
        if isinstance(exc, KeyboardInterrupt):
            raise interrupted(exc, started) from exc
        raise
    live.close()
    for i in local:
        if isinstance(outcomes[i], BaseException):
            raise outcomes[i]
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome  # a cancellation or interrupt inside the API calls
    if all(isinstance(outcome, Exception) for outcome in outcomes):
        failures = "; ".join(f"{jobs[i].title}: {sentence(o)}" for i, o in enumerate(outcomes))
        raise UsageError(f"Every invoker failed. {failures}")
    return list(outcomes)


def sentence(exc: BaseException) -> str:
    """An error as one sentence: its first sentence, ``-i`` advice for a missing input."""
    text = " ".join(input_advice(str(exc)).split()) or type(exc).__name__
    end = re.search(r"(?<!e\.g)(?<!i\.e)\.\s", text)
    return text if end is None else text[: end.start() + 1]


def _show(live: LiveOutput, pane: int, title: str, outcome: Any) -> None:
    if isinstance(outcome, BaseException):
        live.finish(pane, header=f"{title} · failed: {type(outcome).__name__}",
                    text=sentence(outcome))  # fmt: skip
    else:
        live.finish(pane, header=header(outcome, title), text=completion_text(outcome))
