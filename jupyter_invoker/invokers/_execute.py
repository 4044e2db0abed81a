"""execute / execute_async / execute_many: run a prompt on the invoker chosen for it.

    result = execute("prompts/weather.prompty", {"city": "Seattle"})
    result = execute(prompt, {"city": "Paris"}, invoker="openai", parameters={"max_tokens": 20})
    result = await execute_async(prompt, {"city": "Paris"})
    results = execute_many(prompt, [{"city": c} for c in cities], concurrency=8)

Which invoker runs: the ``invoker`` argument (an invoker or a named connection) >
the selection store (``select_invoker`` / ``select_connection``) > the file's own
configuration (``prompty.invoker``) > ``local``; a per-invoker default connection
fills in where the file has no configuration for that invoker (``_selection``).
When the chosen invoker is not the one the file was written for, the file's
connection settings do not apply (an Azure endpoint means nothing to ``openai``):
the run uses the selection's stored configuration and ``configuration``
only. ``parameters`` (max_tokens, temperature, ...) always carry over. Overrides
apply to a copy; the loaded prompt never changes.

``execute`` works from inside a running event loop (a Jupyter cell): the coroutine
then runs on a worker thread. An invoker implementing ``invoke_sync`` natively (the
local model) runs on the calling thread, with no event loop at all.

An answer never shows a key: the secrets of the run's configuration (its keys, a URL's
password, the variables it names) and every key-named environment variable's value are
masked as ``***`` in the result's text and raw response, and in each streamed chunk
(a key split across chunks included), so an endpoint that echoes the request's key
cannot put it into a cell's output, the result's repr or a saved notebook.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._secrets import StreamRedactor, redact, redact_json, secret_values
from ..prompty import load, prepare
from ..prompty._config import normalize_configuration
from ._base import Invoker, run_sync
from ._registry import InvokerFactory
from ._result import ExecutionResult, as_result
from ._selection import RunChoice, resolve_run
from ._store import store_path

if TYPE_CHECKING:
    from ..prompty import Prompty

__all__ = ["execute", "execute_async", "execute_many", "execute_many_async", "plan"]

OnChunk = Callable[[str], Any]


def _load(prompt: Any) -> Prompty:
    if isinstance(prompt, str | os.PathLike):
        return load(prompt)
    return prompt  # type: ignore[no-any-return]


def _same_backend(chosen: str, written: str) -> bool:
    return InvokerFactory.canonical_name(chosen) == InvokerFactory.canonical_name(written)


def plan(
    prompt: Prompty | str | os.PathLike[str],
    invoker: str | None = None,
    *,
    configuration: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[str, Prompty]:
    """(invoker name, the prompt copy it will run) following the selection order above."""
    prompty = _load(prompt)
    written = InvokerFactory.canonical_name(prompty.invoker)
    own = any(key != "type" for key in prompty.model.configuration)
    choice = resolve_run(prompty.path, invoker, written=written, has_own_configuration=own)
    name, stored = choice.invoker, choice.configuration
    base = prompty
    if not _same_backend(name, written):
        base = prompty.copy()
        base.model.configuration = {}
    merged = {**(stored or {}), **(configuration or {})}
    run = base.with_overrides(invoker=name, configuration=merged or None, parameters=parameters)
    if stored:
        # An unset ${env:} in a stored field is blamed on its connection, not on the file.
        origin = _origin(choice, prompty)
        given = _field_names(configuration, name)
        for key in _field_names(stored, name) - given:
            run.configuration_sources[key] = origin
    return name, run


def _field_names(configuration: Mapping[str, Any] | None, invoker: str) -> set[str]:
    if not configuration:
        return set()
    return set(normalize_configuration(configuration, invoker, where="the configuration"))


def _origin(choice: RunChoice, prompty: Prompty) -> str:
    if choice.connection is not None:
        return f"connection {choice.connection!r} (in the invoker store {store_path()})"
    return f"the selection for {prompty.path} (in the invoker store {store_path()})"


def _prepare(prompty: Prompty, inputs: Mapping[str, Any] | None) -> Any:
    return prepare(prompty, inputs)


def _finish(
    value: Any, name: str, prepared: Any, started: float, secrets: list[str]
) -> ExecutionResult:
    result = as_result(value, invoker=name, prepared=prepared)
    if secrets:  # an endpoint that echoes the request's key: masked before anyone sees it
        result.text = redact(result.text, *secrets)
        if isinstance(result.raw, Mapping | list):
            result.raw = redact_json(result.raw, *secrets)
    if result.elapsed_s is None:
        result.elapsed_s = time.perf_counter() - started
    return result


def _secrets(prompty: Prompty) -> list[str]:
    return secret_values(prompty.model.configuration)


async def _run(
    invoker: Invoker, name: str, prepared: Any, on_chunk: OnChunk | None
) -> ExecutionResult:
    started = time.perf_counter()
    secrets = _secrets(invoker.prompty)
    try:
        if on_chunk is None:
            return _finish(await invoker.invoke(prepared), name, prepared, started, secrets)
        redactor = StreamRedactor(secrets)
        pieces: list[str] = []
        async for piece in invoker.stream(prepared):
            pieces.append(piece)
            shown = redactor.feed(piece)
            if shown:
                on_chunk(shown)
        rest = redactor.flush()
        if rest:
            on_chunk(rest)
        last = getattr(invoker, "last_result", None)
        value = last if isinstance(last, ExecutionResult) else "".join(pieces)
        return _finish(value, name, prepared, started, secrets)
    finally:
        await invoker.aclose()


def execute(
    prompt: Prompty | str | os.PathLike[str],
    inputs: Mapping[str, Any] | None = None,
    invoker: str | None = None,
    *,
    configuration: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    on_chunk: OnChunk | None = None,
) -> ExecutionResult:
    """Render ``prompt`` with ``inputs`` and run it; blocks until the result is there.

    ``prompt``: a loaded Prompty or a path to a ``.prompty`` file. ``on_chunk``: called
    with each text chunk as it arrives (streaming backends), the result is the same.
    """
    name, prompty = plan(prompt, invoker, configuration=configuration, parameters=parameters)
    prepared = _prepare(prompty, inputs)
    cls = InvokerFactory.get(name)
    instance = cls(prompty)
    if on_chunk is None and cls.implements_sync():
        started = time.perf_counter()
        value = instance.invoke_sync(prepared)
        return _finish(value, name, prepared, started, _secrets(prompty))
    return run_sync(_run(instance, name, prepared, on_chunk))


async def execute_async(
    prompt: Prompty | str | os.PathLike[str],
    inputs: Mapping[str, Any] | None = None,
    invoker: str | None = None,
    *,
    configuration: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    on_chunk: OnChunk | None = None,
) -> ExecutionResult:
    """:func:`execute` for async code: ``await execute_async(prompt, inputs)``."""
    name, prompty = plan(prompt, invoker, configuration=configuration, parameters=parameters)
    prepared = _prepare(prompty, inputs)
    instance = InvokerFactory.create(name, prompty)
    return await _run(instance, name, prepared, on_chunk)


async def execute_many_async(
    prompt: Prompty | str | os.PathLike[str],
    inputs: Sequence[Mapping[str, Any] | None],
    *,
    concurrency: int = 8,
    invoker: str | None = None,
    configuration: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> list[ExecutionResult]:
    """Run ``prompt`` once per entry of ``inputs``, at most ``concurrency`` at a time.

    Results come back in input order. One invoker instance (one connection pool)
    serves every call. The first failure cancels the calls still pending and is raised.
    """
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
    name, prompty = plan(prompt, invoker, configuration=configuration, parameters=parameters)
    instance = InvokerFactory.create(name, prompty)
    if not type(instance).concurrent:
        concurrency = 1
    gate = asyncio.Semaphore(concurrency)
    secrets = _secrets(prompty)

    async def one(item: Mapping[str, Any] | None) -> ExecutionResult:
        async with gate:
            # Rendered here, not all up front: rendering then overlaps the network waits.
            prepared = _prepare(prompty, item)
            started = time.perf_counter()
            value = await instance.invoke(prepared)
            return _finish(value, name, prepared, started, secrets)

    tasks = [asyncio.ensure_future(one(item)) for item in inputs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        await instance.aclose()


def execute_many(
    prompt: Prompty | str | os.PathLike[str],
    inputs: Sequence[Mapping[str, Any] | None],
    *,
    concurrency: int = 8,
    invoker: str | None = None,
    configuration: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> list[ExecutionResult]:
    """:func:`execute_many_async`, blocking (works inside a running loop too).

    A backend that cannot run calls concurrently (the local model) runs them one
    after another on the calling thread.
    """
    name, prompty = plan(prompt, invoker, configuration=configuration, parameters=parameters)
    cls = InvokerFactory.get(name)
    if not cls.concurrent and cls.implements_sync():
        instance = cls(prompty)
        secrets = _secrets(prompty)
        results = []
        for item in inputs:
            prepared = _prepare(prompty, item)
            started = time.perf_counter()
            value = instance.invoke_sync(prepared)
            results.append(_finish(value, name, prepared, started, secrets))
        return results
    return run_sync(execute_many_async(prompty, inputs, concurrency=concurrency, invoker=name))
