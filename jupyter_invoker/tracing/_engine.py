"""The eager interleaving engine: one model run beside one with-body, on one thread.

    run = InterleavedRun(model, runner=lambda: hf_model.generate(...), label="invoke 0")
    hidden = run.request("model.layers.3", "output", step=0)   # body pauses, model runs
    run.assign("model.layers.3", "output", 0, hidden * 0)      # the model continues with this
    run.finish()                                               # rest of the run, full speed

The model runs in a greenlet on the calling thread (an OS thread gets its own OpenMP
pool and costs ~25% on CPU). Reading a module output switches to the model greenlet; a
forward hook on that module switches back with the real tensor, handed to the body as
a light subclass view; when the body moves on, the hook returns a plain view of that
value, so the model continues from what the body holds (its in-place edits, and its
gradients under ``trace(grad=True)``). Hooks exist only for modules the body asked
for; while a ``save_all`` may still need the current step, the modules it covers have
their ``forward`` wrapped to record the output (``_recording.py``). Hooks and wrappers
are removed the moment nothing can use them any more (the body exited, no
``save_all`` pending), so the rest of the run goes at full speed.

Steps: every call of the root module's forward is one step (a generation step under
``generate``). The body's step pointer moves with ``Invoker.next()``.

Order rule: within a step the model passes modules in a fixed order (measured once
per model by a two-token dry forward). Asking for a module the model already passed
at the current step, or for an earlier step, is an :class:`OutOfOrderError`; asking
again for a value already handed over returns the same tensor.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet
import torch

from ..exceptions import ModuleNotReachedError, OutOfOrderError, TracingError
from ._recording import Recording
from ._tensor import unwrap, wrap

if TYPE_CHECKING:
    from torch.utils.hooks import RemovableHandle

    from ._model import LanguageModel

__all__ = ["InterleavedRun", "describe"]

_NOTHING: Any = object()
_ORDER_RULE = (
    "Within one step the model runs its modules in order, so read outputs in that order "
    "(earlier layers first) and use invoker.next() to move to the next generation step"
)
_DEVICE_TYPES = ("cpu", "cuda")


class _Abort(BaseException):
    """Thrown into the model greenlet to unwind a run whose body has failed."""


def describe(path: str, kind: str) -> str:
    """``model.layers.3.output`` style name used in every message."""
    return f"{path or '<root>'}.{kind}"


def _capture_state() -> tuple[Any, ...]:
    autocast = tuple(
        (torch.is_autocast_enabled(dev), torch.get_autocast_dtype(dev)) for dev in _DEVICE_TYPES
    )
    return (torch.is_grad_enabled(), autocast)


def _restore_state(state: tuple[Any, ...]) -> None:
    # Set only what differs: the setters cost far more than the getters.
    grad, autocast = state
    if torch.is_grad_enabled() != grad:
        torch.set_grad_enabled(grad)
    for dev, (enabled, dtype) in zip(_DEVICE_TYPES, autocast, strict=True):
        if torch.is_autocast_enabled(dev) != enabled:
            torch.set_autocast_enabled(dev, enabled)
        if torch.get_autocast_dtype(dev) != dtype:
            torch.set_autocast_dtype(dev, dtype)


class InterleavedRun:
    """One model run interleaved with one with-body (one invoke)."""

    def __init__(
        self,
        lm: LanguageModel,
        runner: Callable[[], Any],
        *,
        label: str,
        keep_step_outputs: bool | None,
    ) -> None:
        self._lm = lm
        self._runner = runner
        self.label = label
        # The greenlet (and so the thread) running the with-body, fixed at the invoke's start.
        self._body: greenlet.greenlet | None = greenlet.getcurrent()
        self._model: greenlet.greenlet | None = None
        self._hooks: dict[tuple[str, str], RemovableHandle] = {}
        self._order: dict[tuple[str, str], int] = {}
        # Model position: `step` counts root forwards started (-1 before the first);
        # `position` is the order index of the last event passed in the current step.
        self.step = -1
        self.in_step = False
        self.position = -1
        self._paused_at: tuple[str, str, int] | None = None
        self._pending: tuple[str, str, int] | None = None
        self._pending_failed: str | None = None
        self._replacement: Any = _NOTHING
        self._handed: dict[tuple[str, str, int], Any] = {}
        self._body_alive = True
        self.recording = Recording(lm, keep_step_outputs)
        self.started = False
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._error_delivered = False  # raised at a read already: not raised again at exit

    # ------------------------------------------------------------------ body side
    def request(self, path: str, kind: str, step: int) -> Any:
        """The value of ``path``'s ``kind`` ("output" or "input") at ``step``; waits for it."""
        key = (path, kind, step)
        handed = self._handed.get(key, _NOTHING)
        if handed is not _NOTHING:
            return handed
        if self.finished:
            self._raise_finished(path, kind, step)
        self._lm._module(path)  # validates the path before anything starts
        body = self._body
        if body is not None and greenlet.getcurrent() is not body:
            raise TracingError(
                f"{describe(path, kind)} was read from another thread or greenlet than the "
                f"one running {self.label}'s with-block; read module values in that block."
            )
        self._check_order(path, kind, step)
        self._start()
        self._ensure_hook(path, kind)
        self._hook_ancestors(path)
        self._pending, self._pending_failed = key, None
        self._to_model()
        handed = self._handed.get(key, _NOTHING)
        if handed is not _NOTHING:
            return handed
        self._pending = None
        if self.error is not None:
            self._error_delivered = True
            raise self.error
        if self._pending_failed is not None:
            raise ModuleNotReachedError(self._pending_failed)
        self._raise_finished(path, kind, step)

    def assign(self, path: str, kind: str, step: int, value: Any) -> None:
        """Replace ``path``'s ``kind`` at ``step``; the model continues with ``value``."""
        key = (path, kind, step)
        self.request(path, kind, step)
        if self._paused_at != key:
            raise OutOfOrderError(
                f"Cannot assign {describe(path, kind)} at step {step}: the model has already "
                f"used it and moved on. Assign a module's {kind} before reading any later "
                f"module. {_ORDER_RULE}."
            )
        handed = self._handed[key] = _wrap_handed(value, path, kind)
        # The model continues with a plain view of what the body now holds (its gradients
        # flow back to it); save_all() keeps that value too.
        self._replacement = unwrap(handed)
        if kind == "output":
            self.recording.replace(path, self._replacement)

    def save_all(self, step: int, only: Any = None) -> dict[str, Any]:
        """A dict that will hold the output at ``step`` of every module (of those matching
        ``only``, globs over module paths) once the step has run."""
        recording = self.recording
        paths = recording.paths(only)
        existing = recording.target(step, paths)
        if existing is not None:
            return existing.values
        step_done = step < self.step or (step == self.step and self.started and not self.in_step)
        if self.finished or step_done:
            raise OutOfOrderError(
                f"save_all() for step {step} comes too late: the model is already past that "
                f"step. Call invoker.save_all() before reading modules at that step."
            )
        part_way = step == self.step and self.in_step
        if part_way and self.position >= 0 and not recording.covers(paths):
            raise TracingError(
                f"save_all() was called part-way through step {step}, after the model "
                "had already passed some modules, and this run was not keeping those "
                "modules' outputs (it keeps every module's only when the body may call "
                "save_all() late, and only what an earlier save_all(only=...) asked for "
                "otherwise). Call invoker.save_all() before reading any module, or pass "
                "keep_step_outputs=True to model.generate()/model.trace()."
            )
        target = recording.add_target(step, paths)
        if part_way:
            target.fill(recording.current[0])
        if self.started:
            recording.start(paths)
        return target.values

    def finish(self) -> None:
        """The body exited normally: run the rest at full speed and surface model errors."""
        self._body_alive = False
        self._pending = None
        pending_save = self.recording.pending(max(self.step, 0))
        if pending_save:
            self._drop_read_hooks()
        else:
            self._remove_hooks()
        try:
            if not self.started and not pending_save:
                self._run_plain()
            else:
                self._start()
                if not self.finished:
                    self._to_model()
        finally:
            self._release()
        if self.error is not None and not self._error_delivered:
            raise self.error

    def abort(self) -> None:
        """The body failed: unwind the model run and leave nothing behind. Never raises."""
        self._body_alive = False
        self._pending = None
        try:
            self._remove_hooks()
            model = self._model
            if model is not None and bool(model) and not self.finished:
                state = _capture_state()
                try:
                    model.throw(_Abort())
                finally:
                    _restore_state(state)
        except BaseException:  # cleanup must not mask the body's own error
            pass
        finally:
            self.finished = True
            self._release()

    # ------------------------------------------------------------------ internals
    def _raise_finished(self, path: str, kind: str, step: int) -> Any:
        if self.error is not None:
            raise TracingError(
                f"{describe(path, kind)} is not available: the model run of {self.label} "
                f"failed ({type(self.error).__name__}: {self.error})."
            ) from self.error
        reached = "never" if step <= self.step else f"only up to step {self.step}"
        raise ModuleNotReachedError(
            f"{describe(path, kind)} at step {step} was never produced: the run of "
            f"{self.label} finished after {self.step + 1} step(s) and reached it {reached}. "
            "Check the module path (print(model) shows the tree) and max_new_tokens."
        )

    def _check_order(self, path: str, kind: str, step: int) -> None:
        if step < self.step or (step == self.step and not self.in_step and self.started):
            raise OutOfOrderError(
                f"{describe(path, kind)} at step {step} was requested after the model finished "
                f"that step (it is at step {self.step}). {_ORDER_RULE}."
            )
        if step == self.step and self.in_step:
            index = self._order_index(path, kind)
            if index is not None and index <= self.position:
                raise OutOfOrderError(
                    f"{describe(path, kind)} at step {step} was requested after the model had "
                    f"already passed it (the model is at {self._where()}). {_ORDER_RULE}."
                )

    def _where(self) -> str:
        if self._paused_at is None:
            return f"step {self.step}"
        path, kind, step = self._paused_at
        return f"{describe(path, kind)}, step {step}"

    def _order_index(self, path: str, kind: str) -> int | None:
        if not self._order:
            self._order = self._lm._event_order()
        return self._order.get((path, kind))

    def _start(self) -> None:
        if self.started:
            return
        if not self._order:
            self._order = self._lm._event_order()  # dry run before any hook exists
        self.started = True
        self._model = greenlet.greenlet(self._model_main, parent=self._body)
        self._model.gr_context = contextvars.copy_context()
        root = self._lm.hf_model
        self._hooks[("", "step-start")] = root.register_forward_pre_hook(
            self._on_step_start, prepend=True
        )
        self._hooks[("", "step-end")] = root.register_forward_hook(self._on_step_end)
        self.recording.run_started()

    def _run_plain(self) -> None:
        """No body can ask for anything: the run is a plain call, no greenlet, no hook."""
        self.started = True
        try:
            self.result = self._runner()
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished = True

    def _model_main(self) -> None:
        try:
            self.result = self._runner()
        except _Abort:
            pass
        except BaseException as exc:  # KeyboardInterrupt too: handed to the body
            self.error = exc
        finally:
            self.finished = True
            self._pending_failed = None
            with contextlib.suppress(BaseException):
                self._remove_hooks()

    def _to_model(self) -> None:
        self._switch(self._model)

    def _to_body(self) -> None:
        self._switch(self._body)

    @staticmethod
    def _switch(target: greenlet.greenlet | None) -> None:
        """Switch greenlets; each side keeps its own grad/autocast state across switches."""
        if target is None or target.dead:
            return
        state = _capture_state()
        try:
            target.switch()
        finally:
            _restore_state(state)

    def _ensure_hook(self, path: str, kind: str) -> None:
        if (path, kind) in self._hooks:
            return
        module = self._lm._module(path)
        if kind == "output":
            self._hooks[(path, kind)] = module.register_forward_hook(
                self._make_output_hook(path), prepend=(path == "")
            )
        else:
            self._hooks[(path, kind)] = module.register_forward_pre_hook(
                self._make_input_hook(path), with_kwargs=True
            )

    def _hook_ancestors(self, path: str) -> None:
        """An (idle) output hook on every module around ``path``.

        torch calls a module that has no hooks through a fast path that never looks for
        hooks added during the call, so once the body had paused inside a module (at
        its MLP, say) the module's own output could not be read any more. Hooking the
        ancestors of each module the body asks for, when it asks, is enough: an
        ancestor already running then holds a module asked for earlier, whose
        ancestors were hooked at that time."""
        parts = path.split(".")
        for end in range(1, len(parts)):
            ancestor = ".".join(parts[:end])
            if (ancestor, "output") in self._order:
                self._ensure_hook(ancestor, "output")

    def _drop_read_hooks(self) -> None:
        """No body can read anything any more: only the step hooks (and the recording
        wrappers a pending save_all needs) stay."""
        for key in [k for k in self._hooks if k[1] not in ("step-start", "step-end")]:
            self._hooks.pop(key).remove()

    def _remove_hooks(self) -> None:
        hooks, self._hooks = self._hooks, {}
        for handle in hooks.values():
            handle.remove()
        self.recording.stop()

    def _release(self) -> None:
        """Drop every reference that could keep the greenlet, frames or tensors alive."""
        self._remove_hooks()
        self._model = None
        self._body = None
        self._runner = _finished_runner
        self.recording.current[0] = {}
        self._replacement = _NOTHING
        self._paused_at = None

    # ------------------------------------------------------------------ model side
    def _on_step_start(self, module: Any, args: Any) -> None:
        self.step += 1
        self.in_step = True
        self.position = -1
        self.recording.step_started()

    def _on_step_end(self, module: Any, args: Any, output: Any) -> None:
        self.in_step = False
        later_saves = self.recording.step_ended(self.step)
        pending = self._pending
        if pending is not None and pending[2] <= self.step and self._body_alive:
            self._pending_failed = (
                f"{describe(pending[0], pending[1])} did not run at step {pending[2]} of "
                f"{self.label}: the model finished that step without calling it. Check the "
                "module path (print(model) shows the tree)."
            )
            self._to_body()
        if not self._body_alive and not later_saves:
            self._remove_hooks()

    def _wanted(self, path: str, kind: str) -> bool:
        pending = self._pending
        return pending is not None and pending[0] == path and pending[1] == kind

    def _make_output_hook(self, path: str) -> Callable[..., Any]:
        order = self._order.get((path, "output"), -1)
        events = self._handed

        def hook(module: Any, args: Any, output: Any) -> Any:
            if self.position < order:
                self.position = order
            pending = self._pending
            if pending is None or pending[0] != path or pending[1] != "output":
                return None
            if pending[2] != self.step or pending in events:
                return None
            return self._hand_over(pending, output)

        return hook

    def _make_input_hook(self, path: str) -> Callable[..., Any]:
        order = self._order.get((path, "input"), -1)

        def hook(module: Any, args: Any, kwargs: Any) -> Any:
            if self.position < order:
                self.position = order
            pending = self._pending
            if pending is None or pending[0] != path or pending[1] != "input":
                return None
            if pending[2] != self.step or pending in self._handed:
                return None
            return self._hand_over(pending, (args, kwargs))

        return hook

    def _hand_over(self, key: tuple[str, str, int], value: Any) -> Any:
        handed = self._handed[key] = _wrap_handed(value, key[0], key[1])
        self._pending = None
        self._paused_at = key
        self._replacement = _NOTHING
        self._to_body()
        # Back in the model: the body asked for something later, or exited. The model
        # continues with a plain view of the body's value (or of what it assigned), so
        # the body's value lies on the autograd path from here to the loss.
        self._paused_at = None
        replacement, self._replacement = self._replacement, _NOTHING
        if replacement is _NOTHING:
            return unwrap(handed)
        return replacement


def _wrap_handed(value: Any, path: str, kind: str) -> Any:
    """The body's view of a module's output, or of its ``(args, kwargs)`` (which saves
    under ``<path>.inputs``, its first argument under ``<path>.input``)."""
    handed = wrap(value, describe(path, kind))
    if kind == "input" and hasattr(handed, "_ji_source"):
        handed._ji_source = describe(path, "inputs")
    return handed


def _finished_runner() -> Any:
    raise TracingError("This run has already finished.")
