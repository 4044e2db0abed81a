"""What ``%%invoke`` and ``%%generate`` do once their arguments are read.

    run_invoke(shell, parse_invoke('"The Eiffel Tower is in" --save-all'), body)
    run_generate(shell, parse_generate("--max-new-tokens 3"), body)

Steps of ``%invoke TARGET``: resolve TARGET (a quoted literal, a notebook variable, or
a ``.prompty`` path, in that order) and the ``-i`` inputs (``_names``); plan the jobs
(``_plan``: which invoker runs what); then run -- locally inside the tracing contexts
with the cell body (``_body``), or through ``execute`` for any other invoker; several
invokers at once side by side (``_many``). Text streams into one display
(``_display``); the result is the cell's value, shown once. The local model is
``--model VAR``, else the notebook's ``model`` when it is a ``LanguageModel``, else the
kernel's default model, bound as ``model``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..exceptions import PromptyRenderError
from ..invokers import ExecutionResult, execute
from ..invokers._local import DEFAULT_MAX_NEW_TOKENS, LocalOptions
from ..widgets import worth_showing
from ._body import (
    check_patterns,
    compile_body,
    has_code,
    run_generate_body,
    run_local,
)
from ._display import LiveOutput, suppress_value
from ._many import run_many
from ._names import choose_model, input_advice, resolve_inputs, resolve_target
from ._parse import GenerateOptions, InvokeOptions
from ._plan import Job, completion_text, header, interrupted, local_options, plan_jobs

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["run_generate", "run_invoke"]


def run_api(job: Job, inputs: dict[str, Any], opts: InvokeOptions, live: LiveOutput | None,
            pane: int) -> ExecutionResult:  # fmt: skip
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
    """The activation browser of a local run whose saved outputs have a view that tells
    something (decoder layers, or only the logits: the top tokens per step), when the
    magic displays (``jupyter_invoker.show`` displays itself)."""
    if not opts.display or result.generator is None or not worth_showing(result.generator):
        return
    try:
        result.show()
    except ModuleNotFoundError as exc:  # plotly and ipywidgets come with the [lab] extra
        print(
            f"The activation browser needs {exc.name}: pip install 'jupyter_invoker[lab]' "
            "(the run and what it saved are in the result)."
        )


def _prepare_local(
    shell: Any, opts: GenerateOptions, magic: str, body: str, live: LiveOutput, title: str
) -> tuple[LanguageModel, Any]:
    """The compiled cell body and the local model (the display says so at once while a
    first run loads it), or a UsageError saying what is wrong."""
    code = compile_body(shell, magic, opts.line, body)
    lm = choose_model(
        shell, opts.model, on_load=lambda name: live.status(0, f"{title} · loading {name}…")
    )
    try:
        check_patterns(lm, opts.save)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return lm, code


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
    live.status(0, live.panes[0].header.replace("loading", "running", 1))
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
        if isinstance(exc, KeyboardInterrupt):
            raise interrupted(exc, started) from exc
        raise
    live.finish(0, header=header(result), text=completion_text(result))
    live.close()
    show_browser(result, opts)
    return _finish(shell, result, opts, opts.display)


def run_invoke(shell: Any, opts: InvokeOptions, body: str) -> Any:
    """``%invoke`` / ``%%invoke``: see the module docstring."""
    __tracebackhide__ = True
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
        results = run_many(shell, jobs, inputs, opts, body)
        for result in results:  # a failed API invoker's place holds its exception
            if not isinstance(result, Exception):
                show_browser(result, opts)
        return _finish(shell, results, opts, opts.display)
    job = jobs[0]
    live = LiveOutput([job.title], enabled=opts.display)
    if not job.local:
        live.start()
        started = time.perf_counter()
        try:
            result = run_api(job, inputs, opts, live, 0)
        except BaseException as exc:
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            live.finish(0, header=f"{job.title} · {what}: {type(exc).__name__}")
            live.close()
            if isinstance(exc, PromptyRenderError):
                raise UsageError(input_advice(str(exc))) from None
            if isinstance(exc, KeyboardInterrupt):
                raise interrupted(exc, started) from exc
            raise
        live.finish(0, header=header(result, job.title), text=result.text)
        live.close()
        return _finish(shell, result, opts, opts.display)
    lm, code = _prepare_local(shell, opts, "%%invoke", body, live, job.title)
    options = local_options(job, opts.max_new_tokens)
    return _run_live(
        shell, opts, lm, live,
        lambda: run_local(shell, lm, job.content, options, code=code, trace=opts.trace,
                          save_all=opts.save_all, save=opts.save, live=live),
        timed=True,
    )  # fmt: skip


def run_generate(shell: Any, opts: GenerateOptions, body: str) -> Any:
    """``%%generate``: the body inside one Generator with ``invoke`` bound."""
    __tracebackhide__ = True
    live = LiveOutput(["generate"], enabled=opts.display)
    lm, code = _prepare_local(shell, opts, "%%generate", body, live, "generate")
    options = LocalOptions({"max_new_tokens": opts.max_new_tokens or DEFAULT_MAX_NEW_TOKENS})
    return _run_live(
        shell, opts, lm, live,
        lambda: run_generate_body(shell, lm, options, code=code, trace=opts.trace,
                                  save_all=opts.save_all, save=opts.save, live=live),
        timed=False,
    )  # fmt: skip
