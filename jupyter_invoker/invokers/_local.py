"""The ``local`` invoker (also registered as ``huggingface``): the traced local model.

    model:
      api: chat
      configuration:
        type: local            # or huggingface
        model: HuggingFaceTB/SmolLM2-135M-Instruct   # path or hub id; absent = the default
      parameters:
        max_tokens: 20         # -> max_new_tokens (default 64)
        temperature: 0         # > 0 samples (with top_p, top_k, seed); 0/absent is greedy

Every run goes through the tracing contexts (``model.generate`` / ``generator.invoke``),
so ``result.generator`` holds a traced Generator and ``result.raw`` its Invoker.
Chat prompts are handed over as messages: the model's chat template is applied with
the generation prompt. ``LanguageModel`` instances are cached per model (one load
per process) and one run at a time uses each (``concurrent = False``). Runs happen
on the calling thread: a worker thread gets its own OpenMP pool and is slower on CPU.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..exceptions import InvokerConfigError
from ._base import Invoker
from ._result import ExecutionResult

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "LocalInvoker"]

DEFAULT_MAX_NEW_TOKENS = 64
_SAMPLING = ("top_p", "top_k", "repetition_penalty")


class _Slot:
    def __init__(self, model: LanguageModel) -> None:
        self.model = model
        self.lock = threading.Lock()


class LocalInvoker(Invoker):
    """Runs the prompt on a local transformers model through the tracing contexts."""

    concurrent = False
    _models: ClassVar[dict[str, _Slot]] = {}
    _models_lock: ClassVar[threading.Lock] = threading.Lock()

    # -- model cache -----------------------------------------------------------------
    @staticmethod
    def model_key(name: str | None) -> str:
        from ..models import resolve_model

        return resolve_model(name)

    @classmethod
    def cache_model(cls, model: LanguageModel, name: str | None = None) -> None:
        """Use an already-loaded ``model`` for prompts naming ``name`` (default: its own)."""
        key = cls.model_key(name if name is not None else model.name)
        with cls._models_lock:
            cls._models[key] = _Slot(model)

    @classmethod
    def _slot(cls, name: str | None) -> _Slot:
        key = cls.model_key(name)
        with cls._models_lock:
            slot = cls._models.get(key)
            if slot is None:
                from ..tracing import LanguageModel

                slot = cls._models[key] = _Slot(LanguageModel(key))
            return slot

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every cached model (their memory is freed once nothing else holds them)."""
        with cls._models_lock:
            cls._models.clear()

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
        import torch

        name = self._model_name()
        kwargs = self.generate_kwargs()
        seed = (getattr(self.prompty.model, "parameters", None) or {}).get("seed")
        slot = self._slot(name)
        lm = slot.model
        if "stop_strings" in kwargs:
            kwargs["tokenizer"] = lm.tokenizer
        with slot.lock:
            if seed is not None and kwargs.get("do_sample"):
                torch.manual_seed(int(seed))
            with lm.generate(**kwargs) as generator, generator.invoke(data) as traced:
                pass
        prompt_tokens = int(traced.input_ids.shape[-1]) if traced.input_ids is not None else 0
        total = int(traced.output_ids.shape[-1]) if traced.output_ids is not None else 0
        completion = max(total - prompt_tokens, 0)
        text = traced.text if isinstance(traced.text, str) else "".join(traced.text or [])
        return ExecutionResult(
            text=text,
            model=name or Path(lm.name).name,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
            },
            generator=generator,
            prepared=data,
            raw=traced,
            finish_reason="length" if completion >= kwargs["max_new_tokens"] else "stop",
        )
