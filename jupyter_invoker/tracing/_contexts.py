"""``Generator`` and ``Invoker``: the with-blocks of a traced run.

    with model.generate(max_new_tokens=3) as generator:
        with generator.invoke("The Eiffel Tower is in the city of") as invoker:
            logits = model.lm_head.output.save()      # (batch, 1, vocab) under generate
            invoker.next()                            # the next generation step
            everything = invoker.save_all()           # {module path: output} of this step
            mlps = invoker.save_all(only="model.layers.*.mlp")   # only those are recorded
    invoker.text, generator.output, generator.saved, invoker.outputs(step=1)

Each invoke is one model run over its input (a list is one left-padded batch);
invokes run in order, so a value saved in one can be used in the next.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import sys
import weakref
from collections.abc import Iterable, Iterator
from types import CodeType
from typing import TYPE_CHECKING, Any

import torch

from ..exceptions import TracingError
from . import _tensor
from ._engine import InterleavedRun
from ._inputs import Prepared, prepare_input
from ._recording import wrap_forward

if TYPE_CHECKING:
    from ._model import LanguageModel

__all__ = ["Generator", "Invoker"]

# The activation browser is the widgets layer, which builds on this one (it imports
# tracing); tracing names it only as a string, resolved when show() is called, so no
# import goes up the layers and tracing works where the widgets' dependencies
# (IPython, ipywidgets, plotly) are not installed.
_BROWSER = "jupyter_invoker.widgets"


def _mentions(code: CodeType, name: str) -> bool:
    """Whether ``code`` or any code nested in it (comprehensions, lambdas) uses ``name``."""
    if name in code.co_names:
        return True
    return any(isinstance(c, CodeType) and _mentions(c, name) for c in code.co_consts)


class Generator:
    """A generation (or single-forward) context holding one or more invokes."""

    def __init__(
        self,
        lm: LanguageModel,
        mode: str,
        *,
        input: Any = None,
        kwargs: dict[str, Any],
        grad: bool = False,
    ) -> None:
        self.model = lm
        self.mode = mode
        self.kwargs = kwargs
        self.grad = grad
        self.keep_step_outputs: bool | None = kwargs.pop("keep_step_outputs", None)
        self.invokers: list[Invoker] = []
        self.saved: list[dict[int, dict[str, Any]]] = []
        self._input = input
        self._implicit: Invoker | None = None
        self._current: Invoker | None = None
        self._entered = False

    def invoke(self, input: Any, **kwargs: Any) -> Invoker:
        """One run of the model over ``input`` (a string, list of strings, token ids,
        chat messages, or a rendered prompt); ``kwargs`` override the context's options."""
        if not self._entered:
            raise TracingError(
                "generator.invoke() must be used inside `with model.generate(...) as generator:`."
            )
        return Invoker(self, input, kwargs)

    @property
    def invoker(self) -> Invoker | None:
        """The invoke opened by ``model.generate(input)`` / ``model.trace(input)``, if any."""
        return self._implicit

    def __enter__(self) -> Generator:
        if self.model._active_generator is not None:
            raise TracingError(
                "A generate/trace context is already open on this model; finish it first "
                "(contexts on one model cannot nest)."
            )
        self.model._active_generator = self
        self._entered = True
        if self._input is not None:
            self._implicit = Invoker(self, self._input, {}, frame_depth=2)
            try:
                self._implicit.__enter__()
            except BaseException:
                self.model._active_generator = None
                raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self._implicit is not None and self._implicit._run is not None:
                self._implicit.__exit__(exc_type, exc, tb)
        finally:
            self.model._active_generator = None
            self._current = None

    def show(self, **options: Any) -> Any:
        """The activation browser of this run (``jupyter_invoker.show(generator, ...)``)."""
        return importlib.import_module(_BROWSER).show(self, **options)

    @property
    def output(self) -> torch.Tensor | None:
        """Every invoke's token ids (prompt + generated), one row per prompt, left-padded
        to a common length: rows follow the order of the invokes."""
        rows = [inv.output_ids for inv in self.invokers if inv.output_ids is not None]
        if not rows:
            return None
        width = max(r.shape[-1] for r in rows)
        pad = self.model.tokenizer.pad_token_id or 0
        padded = [torch.nn.functional.pad(r, (width - r.shape[-1], 0), value=pad) for r in rows]
        return torch.cat(padded, dim=0)


class Invoker:
    """One model run over one input, interleaved with the body of its with-block."""

    _counter = itertools.count()

    def __init__(
        self, generator: Generator, input: Any, kwargs: dict[str, Any], *, frame_depth: int = 1
    ) -> None:
        # The generator holds its invokers; an invoker refers back to it weakly, so a
        # finished run (and every tensor it saved) is freed the moment the user drops the
        # generator, not at the next garbage collection: a kept reference cycle made each
        # save_all() run fault in fresh memory while the last run's waited to be collected.
        self._generator = weakref.ref(generator)
        self._model = generator.model
        self._mode = generator.mode
        self.input = input
        self.kwargs = kwargs
        self.step = 0
        self.index = len(generator.invokers)
        self.input_ids: torch.Tensor | None = None
        self.attention_mask: torch.Tensor | None = None
        self.output_ids: torch.Tensor | None = None
        self.text: str | list[str] | None = None
        self.tokens: list[str] | list[list[str]] | None = None
        self.saved: dict[int, dict[str, Any]] = {}
        self._prepared: Prepared | None = None
        self._run: InterleavedRun | None = None
        self._frame_depth = frame_depth

    @property
    def generator(self) -> Generator:
        """The ``model.generate``/``model.trace`` context this invoke belongs to."""
        generator = self._generator()
        if generator is None:
            raise TracingError(
                "This invoker's generator no longer exists: nothing refers to it any more. "
                "Keep the generator (`with model.generate(...) as generator:`) for as long "
                "as you use generator-level results; the invoker's own results (text, tokens, "
                "saved, output_ids) and jupyter_invoker.show(invoker) work without it."
            )
        return generator

    # ------------------------------------------------------------------ body API
    def next(self, steps: int = 1) -> None:
        """Move the body to the next generation step (module reads then refer to it)."""
        self._require_open("next()")
        self.step += steps

    def save_all(self, only: str | Iterable[str] | None = None) -> dict[str, Any]:
        """``{module path: output}`` for every module at the current step (containers
        skipped); filled in by the time the invoke block has exited.

        ``only``: a glob over module paths, or a list of them (``"model.layers.*.mlp"``;
        ``*`` also crosses dots): only the matching modules are recorded, so the run
        keeps (and spends time on) nothing else."""
        run = self._require_open("save_all()")
        return run.save_all(self.step, only)

    def outputs(self, step: int = 0) -> dict[str, Any]:
        """``{module path: output}`` this invoke saved at ``step``: what ``save_all()``
        kept and every ``.output`` that was ``.save()``-d (the activation browser's input)."""
        suffix = ".output"
        return {
            key[: -len(suffix)]: value
            for key, value in self.saved.get(step, {}).items()
            if key.endswith(suffix)
        }

    @property
    def model(self) -> LanguageModel:
        """The traced model."""
        return self._model

    @property
    def mode(self) -> str:
        """``"generate"`` or ``"trace"``."""
        return self._mode

    def _require_open(self, what: str) -> InterleavedRun:
        if self._run is None or self.generator._current is not self:
            raise TracingError(
                f"invoker.{what} works only inside its `with ... invoke(...)` block."
            )
        return self._run

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Invoker:
        gen = self.generator
        lm = gen.model
        if gen._current is not None:
            raise TracingError("Invokes cannot nest: close the open invoke block first.")
        if lm._active_generator is not gen:
            raise TracingError("This generator's with-block has already exited.")
        self._prepared = prepare_input(lm, self.input)
        self.input_ids = self._prepared.input_ids
        self.attention_mask = self._prepared.attention_mask
        keep = gen.keep_step_outputs
        if keep is None and not _mentions(sys._getframe(self._frame_depth).f_code, "save_all"):
            # Only a body that mentions save_all may call it part-way through a step; for
            # one that does, the run decides when it starts what to keep (_recording.py).
            keep = False
        self._run = InterleavedRun(
            lm, self._runner(), label=f"invoke {self.index}", keep_step_outputs=keep
        )
        gen._current = self
        gen.invokers.append(self)
        _tensor._save_sink.append(self._on_save)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        run = self._run
        try:
            if run is None:
                return
            if exc_type is None:
                run.finish()
            else:
                run.abort()
        finally:
            if _tensor._save_sink and _tensor._save_sink[-1] == self._on_save:
                _tensor._save_sink.pop()
            self.generator._current = None
            if run is not None:
                self._collect(run)
            self._run = None

    def _on_save(self, value: Any, source: str | None) -> None:
        name = source or _tensor.derived_name()
        self.saved.setdefault(self.step, {})[name] = value

    def _runner(self) -> Any:
        gen, prepared, lm = self.generator, self._prepared, self.generator.model
        assert prepared is not None
        options = {**gen.kwargs, **self.kwargs}
        model_inputs: dict[str, Any] = {
            "input_ids": prepared.input_ids,
            "attention_mask": prepared.attention_mask,
        }
        if gen.mode == "generate":
            options.setdefault("pad_token_id", lm.tokenizer.pad_token_id)
            grad_in_forward = _grad_in_forward if gen.grad else _no_change

            def run_generate() -> Any:
                with grad_in_forward(lm.hf_model):
                    return lm.hf_model.generate(**model_inputs, **options)

            return run_generate
        if prepared.position_ids is not None:
            model_inputs["position_ids"] = prepared.position_ids
        options.setdefault("use_cache", False)
        grad = gen.grad

        def run_forward() -> Any:
            with torch.set_grad_enabled(grad):
                return lm.hf_model(**model_inputs, **options)

        return run_forward

    def _collect(self, run: InterleavedRun) -> None:
        prepared = self._prepared
        assert prepared is not None
        tokenizer = self._model.tokenizer
        self.tokens = prepared.tokens(tokenizer)
        for step, targets in run.recording.targets.items():  # what save_all() asked for
            merged = self.saved.setdefault(step, {})
            for target in targets:
                for path, value in target.values.items():
                    merged.setdefault(f"{path}.output", value)
        self.generator.saved.append(self.saved)
        result = run.result
        if run.error is not None or result is None:
            return  # a failed or aborted run has no output; its error went to the body
        if self._mode == "trace":
            self.output_ids = prepared.input_ids
            self.text = [""] * len(prepared.input_ids) if prepared.batched else ""
            return
        self.output_ids = result.sequences if hasattr(result, "sequences") else result
        new = self.output_ids[:, prepared.input_ids.shape[-1] :]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        self.text = texts if prepared.batched else texts[0]


@contextlib.contextmanager
def _grad_in_forward(hf_model: Any) -> Iterator[None]:
    """transformers' ``generate`` runs under ``torch.no_grad()``: turn gradients on inside
    each forward of the model (a wrapper on the instance's ``forward``, removed after)."""

    def make(forward: Any) -> Any:
        def forward_with_grad(*args: Any, **kwargs: Any) -> Any:
            with torch.enable_grad():
                return forward(*args, **kwargs)

        return forward_with_grad

    restore = wrap_forward(hf_model, make)
    try:
        yield
    finally:
        restore()


@contextlib.contextmanager
def _no_change(hf_model: Any) -> Iterator[None]:
    yield
