"""The ``local`` invoker (also registered as ``huggingface``): the traced local model.

    model:
      api: chat
      configuration:
        type: local            # or huggingface
        model: HuggingFaceTB/SmolLM2-135M-Instruct   # path or hub id; absent = the default
      parameters:
        max_tokens: 20         # -> max_new_tokens (default 64)
        temperature: 0         # > 0 samples (with top_p, top_k, seed); 0/absent is greedy

    result = run_local(lm, "The Eiffel Tower is in", {"max_new_tokens": 5},
                       body=lambda generator, invoker: print(invoker.step))

Every local run -- ``execute()``, ``%%invoke``, ``%invoke --invoker local,local``,
``%%generate`` -- goes through :func:`run_local` (one invoke) or :func:`run_generator`
(a body that opens its own invokes): they take the model's lock, seed the sampler,
hand stop strings their tokenizer, run the tracing contexts and build the
``ExecutionResult`` in one way (:func:`local_result`). ``result.generator`` holds the
traced Generator and ``result.raw`` its Invoker(s). Chat prompts are handed over as
messages: the model's chat template is applied with the generation prompt.
``LanguageModel`` instances are cached per model (:func:`model_slot`: one load per
process) and one run at a time uses each (``concurrent = False``). Runs happen on the
calling thread: a worker thread gets its own OpenMP pool and is slower on CPU.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import InvokerConfigError
from ..models import resolve_model
from ._base import Invoker
from ._result import ExecutionResult

if TYPE_CHECKING:
    from ..tracing import Generator, LanguageModel
    from ..tracing import Invoker as TracedInvoker

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "LocalInvoker",
    "LocalOptions",
    "ModelSlot",
    "local_result",
    "model_lock",
    "model_slot",
    "run_generator",
    "run_local",
]

DEFAULT_MAX_NEW_TOKENS = 64
_SAMPLING = ("top_p", "top_k", "repetition_penalty")


@dataclass(frozen=True)
class LocalOptions:
    """What a prompt's ``model.parameters`` ask of a local run, in transformers' terms."""

    generate: dict[str, Any]  # generate() keyword arguments: max_new_tokens, sampling, stop
    seed: int | None = None  # seeds torch's sampler before a sampling run


@dataclass(frozen=True)
class ModelSlot:
    """A cached ``LanguageModel`` and the lock every local run on it holds."""

    model: LanguageModel
    lock: threading.RLock


# One lock per model, whoever runs it (execute(), a magic, two kernels' threads): two runs
# on one model would interleave their hooks. Re-entrant, so a body that calls execute()
# on the same model meets the tracing's own clear "contexts cannot nest" error, not a hang.
_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()
_models: dict[str, ModelSlot] = {}
_models_lock = threading.Lock()


def model_lock(lm: LanguageModel) -> threading.RLock:
    """The lock every local run on ``lm`` holds."""
    with _locks_guard:
        lock = _locks.get(lm)
        if lock is None:
            lock = _locks[lm] = threading.RLock()
        return lock


def model_key(name: str | None) -> str:
    """The cache key of a model name (``None``: the embedded default)."""
    return resolve_model(name)


def model_slot(
    name: str | None = None, *, on_load: Callable[[str], None] | None = None
) -> ModelSlot:
    """The cached model for ``name`` (``None``: the embedded default), loaded on first use
    (``on_load(model name)`` is called first, so a caller can say it is loading).

    The magics' kernel default and ``execute()`` share it: one load per process."""
    key = model_key(name)
    with _models_lock:
        slot = _models.get(key)
        if slot is None:
            from ..tracing import LanguageModel

            if on_load is not None:
                on_load(Path(key).name or key)
            lm = LanguageModel(key)
            slot = _models[key] = ModelSlot(lm, model_lock(lm))
        return slot


# -- one local run ---------------------------------------------------------------------
_CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")


def context_length(lm: LanguageModel) -> tuple[int, str] | None:
    """``(tokens, config field)``: how long a sequence the model was built for, if it says."""
    config = getattr(lm.hf_model, "config", None)
    for field in _CONTEXT_FIELDS:
        value = getattr(config, field, None)
        if isinstance(value, int) and value > 0:
            return value, field
    return None


def check_context(lm: LanguageModel, kwargs: dict[str, Any], prompt_tokens: int = 0) -> None:
    """Refuse a generation that would run past the model's context (it would fail deep in
    the model, or silently produce garbage, after minutes)."""
    new = kwargs.get("max_new_tokens")
    known = context_length(lm)
    if known is None or not isinstance(new, int) or prompt_tokens + new <= known[0]:
        return
    limit, field = known
    prompt = f" after a {prompt_tokens}-token prompt" if prompt_tokens else ""
    room = limit - prompt_tokens
    raise InvokerConfigError(
        f"max_new_tokens={new}{prompt} goes past the context of {Path(lm.name).name}: "
        f"{limit} tokens (config.{field}). Ask for at most {room} new tokens "
        f"(--max-new-tokens {room}, or max_tokens in the prompt's parameters)."
    )


@contextlib.contextmanager
def _session(
    lm: LanguageModel,
    kwargs: dict[str, Any],
    *,
    trace: bool,
    seed: int | None,
    streamer: Any,
) -> Iterator[Generator]:
    """The model's lock, the seed, stop strings' tokenizer, then the tracing context."""
    options = dict(kwargs)
    if not trace:
        check_context(lm, options)
    if "stop_strings" in options:
        options["tokenizer"] = lm.tokenizer  # generate() needs it to match stop strings
    if streamer is not None:
        options["streamer"] = streamer
    with model_lock(lm):
        if seed is not None and options.get("do_sample"):
            import torch

            torch.manual_seed(int(seed))
        with lm.trace() if trace else lm.generate(**options) as generator:
            yield generator


def run_local(
    lm: LanguageModel,
    content: Any,
    kwargs: dict[str, Any],
    *,
    trace: bool = False,
    seed: int | None = None,
    body: Callable[[Generator, TracedInvoker], None] | None = None,
    streamer: Any = None,
    model_name: str | None = None,
) -> ExecutionResult:
    """One invoke of ``content`` (a string, a batch, chat messages, token ids) on ``lm``
    with ``body(generator, invoker)`` run inside it (``--trace``: one forward pass)."""
    __tracebackhide__ = True
    started = time.perf_counter()
    session = _session(lm, kwargs, trace=trace, seed=seed, streamer=streamer)
    with session as generator, generator.invoke(content) as invoker:
        if not trace and invoker.input_ids is not None:
            check_context(lm, kwargs, int(invoker.input_ids.shape[-1]))
        if body is not None:
            body(generator, invoker)
    return local_result(lm, generator, [invoker], content, kwargs,
                        time.perf_counter() - started, model_name=model_name)  # fmt: skip


def run_generator(
    lm: LanguageModel,
    kwargs: dict[str, Any],
    body: Callable[[Generator], None],
    *,
    trace: bool = False,
    seed: int | None = None,
    streamer: Any = None,
) -> ExecutionResult:
    """``body(generator)`` inside one Generator on ``lm``; it opens its own invokes."""
    __tracebackhide__ = True
    started = time.perf_counter()
    with _session(lm, kwargs, trace=trace, seed=seed, streamer=streamer) as generator:
        body(generator)
    return local_result(lm, generator, generator.invokers, None, kwargs,
                        time.perf_counter() - started)  # fmt: skip


def _eos_ids(lm: LanguageModel) -> set[int]:
    value = getattr(getattr(lm.hf_model, "generation_config", None), "eos_token_id", None)
    if value is None:
        value = lm.tokenizer.eos_token_id
    return {int(v) for v in (value if isinstance(value, list | tuple) else [value])}


def _completion_tokens(invoker: TracedInvoker, eos: set[int]) -> list[int]:
    """Tokens each row generated, up to and including its end-of-sequence token: a row that
    stopped early is padded to the batch's width, and the padding is not its output."""
    if invoker.output_ids is None or invoker.input_ids is None:
        return []
    new = invoker.output_ids[:, invoker.input_ids.shape[-1] :].tolist()
    counts = []
    for row in new:
        ends = [i for i, token in enumerate(row) if token in eos]
        counts.append(ends[0] + 1 if ends else len(row))
    return counts


def local_result(
    lm: LanguageModel,
    generator: Generator,
    invokers: list[TracedInvoker],
    content: Any,
    kwargs: dict[str, Any],
    elapsed: float,
    *,
    model_name: str | None = None,
) -> ExecutionResult:
    """The ``ExecutionResult`` of a local run: every local run's, built here alone.

    Prompt tokens are each row's real tokens (a padded batch's padding is not counted);
    completion tokens each row's generated ones up to its end of sequence; the text is
    every row's completion, one per line (each one also in ``extra["texts"]``)."""
    eos = _eos_ids(lm)
    prompt = completion = 0
    texts: list[str] = []
    rows: list[int] = []
    for inv in invokers:
        if inv.attention_mask is not None:
            prompt += int(inv.attention_mask.sum())
        counts = _completion_tokens(inv, eos)
        rows.extend(counts)
        completion += sum(counts)
        text = inv.text
        texts.extend([text] if isinstance(text, str) else list(text or []))
    limit = kwargs.get("max_new_tokens")
    hit_limit = limit is not None and bool(rows) and all(count >= limit for count in rows)
    return ExecutionResult(
        text=texts[0] if len(texts) == 1 else "\n".join(texts),
        invoker="local",
        model=model_name or Path(lm.name).name,
        usage={
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        generator=generator,
        prepared=content,
        raw=invokers[0] if len(invokers) == 1 else invokers,
        finish_reason="length" if hit_limit else "stop",
        elapsed_s=elapsed,
        extra={"texts": texts} if len(texts) > 1 else {},
    )


class LocalInvoker(Invoker):
    """Runs the prompt on a local transformers model through the tracing contexts."""

    concurrent = False

    # -- model cache -----------------------------------------------------------------
    @classmethod
    def cache_model(cls, model: LanguageModel, name: str | None = None) -> None:
        """Use an already-loaded ``model`` for prompts naming ``name`` (default: its own)."""
        key = model_key(name if name is not None else model.name)
        with _models_lock:
            _models[key] = ModelSlot(model, model_lock(model))

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every cached model (their memory is freed once nothing else holds them)."""
        with _models_lock:
            _models.clear()

    # -- running -----------------------------------------------------------------------
    def _model_name(self) -> str | None:
        config = getattr(self.prompty.model, "configuration", None) or {}
        value = config.get("model") or config.get("name")
        if value is not None and not isinstance(value, str | Path):
            raise InvokerConfigError(
                f"The local invoker's configuration `model` must be a path or a hub id, "
                f"not {type(value).__name__}."
            )
        return None if value is None else str(value)

    def options(self, max_new_tokens: int | None = None) -> LocalOptions:
        """``model.parameters`` in transformers' terms (``max_new_tokens`` overrides the
        prompt's ``max_tokens``)."""
        kwargs = self.generate_kwargs()
        if max_new_tokens is not None:
            kwargs["max_new_tokens"] = max_new_tokens
        seed = (getattr(self.prompty.model, "parameters", None) or {}).get("seed")
        return LocalOptions(kwargs, None if seed is None else int(seed))

    def generate_kwargs(self) -> dict[str, Any]:
        """``model.parameters`` in transformers' terms."""
        params = dict(getattr(self.prompty.model, "parameters", None) or {})
        max_new = params.get("max_new_tokens", params.get("max_tokens", DEFAULT_MAX_NEW_TOKENS))
        if not isinstance(max_new, int) or isinstance(max_new, bool) or max_new < 1:
            raise InvokerConfigError(
                f"parameters `max_tokens` must be a whole number >= 1, not {max_new!r}."
            )
        kwargs: dict[str, Any] = {"max_new_tokens": max_new}
        temperature = params.get("temperature") or 0
        if not isinstance(temperature, int | float) or temperature < 0:
            raise InvokerConfigError(
                f"parameters `temperature` must be a number >= 0, not {temperature!r}."
            )
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=float(temperature))
            kwargs.update({k: params[k] for k in _SAMPLING if params.get(k) is not None})
        else:
            kwargs["do_sample"] = False
        stop = params.get("stop")
        if stop:
            kwargs["stop_strings"] = [stop] if isinstance(stop, str) else list(stop)
        return kwargs

    def invoke_sync(self, data: Any) -> ExecutionResult:
        name = self._model_name()
        options = self.options()
        slot = model_slot(name)
        return run_local(slot.model, data, options.generate, seed=options.seed,
                         model_name=name)  # fmt: skip
