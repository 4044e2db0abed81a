"""What ``save_all()`` keeps: per-step targets and the ``forward`` wrappers that fill them.

    recording = Recording(lm, keep=None)
    paths = recording.paths("model.layers.*.mlp")    # the 30 MLPs of the default model
    target = recording.add_target(0, paths)          # the dict save_all() returns
    recording.start(paths)                           # wraps only those 30 forwards
    ... the model runs a step ...
    recording.step_ended(0)                          # target now holds the 30 outputs

Only the modules some target asks for are wrapped, so ``save_all(only=...)`` costs
(in time and memory) what its modules cost, not what every module would. ``keep``
says whether the current step's outputs are kept for *every* module as the run goes
(so a ``save_all()`` called part-way through a step still covers the step): ``True``
always, ``False`` never, ``None`` decided when the run starts (every module unless
the body asked for ``save_all`` before reading anything, in which case only what it
asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch

from ..exceptions import TracingError

if TYPE_CHECKING:
    from ._model import LanguageModel

__all__ = ["Recording", "Target"]

_NOTHING: Any = object()


class Target:
    """One ``save_all()`` result: the paths it covers and the dict it fills in."""

    __slots__ = ("paths", "values")

    def __init__(self, paths: frozenset[str]) -> None:
        self.paths = paths
        self.values: dict[str, Any] = {}

    def fill(self, outputs: dict[str, Any]) -> None:
        paths = self.paths
        self.values.update((path, value) for path, value in outputs.items() if path in paths)


class Recording:
    """The save_all() side of one run (see the module docstring)."""

    def __init__(self, lm: LanguageModel, keep: bool | None) -> None:
        self._lm = lm
        self.keep = keep
        self.keep_all = bool(keep)
        self.targets: dict[int, list[Target]] = {}
        # One-element boxes, so wrapper closures always write into the current step's dict
        # and stop recording when the run stops (a wrapper someone re-wrapped stays behind).
        self.current: list[dict[str, Any]] = [{}]
        self._live = [False]
        self._wrapped: dict[str, Callable[[], None]] = {}  # path -> what unwraps it
        self._covered: frozenset[str] = frozenset()
        self._all: frozenset[str] | None = None
        self._matched: dict[tuple[str, ...], frozenset[str]] = {}

    # ------------------------------------------------------------------ targets
    def all_paths(self) -> frozenset[str]:
        if self._all is None:
            self._all = frozenset(self._lm._called_modules())
        return self._all

    def paths(self, only: str | Iterable[str] | None) -> frozenset[str]:
        """The called modules matching ``only`` (globs over module paths; ``*`` also
        crosses dots); every called module for ``None``."""
        every = self.all_paths()
        if only is None:
            return every
        patterns = [only] if isinstance(only, str) else list(only)
        if not patterns or not all(isinstance(p, str) for p in patterns):
            raise TracingError(
                f"save_all(only=...) takes a glob over module paths or a list of them, such "
                f"as 'model.layers.*.mlp'; got {only!r}."
            )
        key = tuple(patterns)
        if key not in self._matched:  # the same globs at every step of a --save run
            self._matched[key] = self._lm.modules_matching(patterns)
        return self._matched[key]

    def target(self, step: int, paths: frozenset[str]) -> Target | None:
        for target in self.targets.get(step, ()):
            if target.paths == paths:
                return target
        return None

    def add_target(self, step: int, paths: frozenset[str]) -> Target:
        target = Target(paths)
        self.targets.setdefault(step, []).append(target)
        return target

    def pending(self, from_step: int) -> bool:
        """Whether a target at ``from_step`` or later still waits to be filled."""
        return any(step >= from_step for step in self.targets)

    def wanted(self) -> frozenset[str]:
        """Every path some target asks for."""
        return frozenset().union(*(t.paths for ts in self.targets.values() for t in ts))

    def covers(self, paths: frozenset[str]) -> bool:
        """Whether the current step's outputs of ``paths`` have been kept since it began."""
        return self.keep_all or paths <= self._covered

    def replace(self, path: str, value: Any) -> None:
        """The module's output was replaced: what the step keeps is the new value."""
        outputs = self.current[0]
        if path in outputs:
            outputs[path] = value

    # ------------------------------------------------------------------ the run
    def run_started(self) -> None:
        if self.keep is None:
            self.keep_all = not self.targets
        if self.keep_all:
            self.start(self.all_paths())
        elif self.targets:
            self.start(self.wanted())

    def step_started(self) -> None:
        self.current[0] = {}
        self._covered = frozenset(self._wrapped) if self._live[0] else frozenset()

    def step_ended(self, step: int) -> bool:
        """Fill this step's targets; returns whether a later step still has targets."""
        targets = self.targets.get(step, ())
        for target in targets:
            target.fill(self.current[0])
        later = any(s > step for s in self.targets)
        if targets and not self.keep_all and not later:
            self.stop()
        self.current[0] = {}
        return later

    def start(self, paths: Iterable[str]) -> None:
        """Wrap ``forward`` of each module in ``paths`` (those not wrapped yet).

        A wrapper on the instance, not a forward hook: torch calls a module with no hooks
        through its fast path, and a hook on each of the ~400 modules would send every one
        through the slow path (about 3x the cost of the wrapper). The wrappers record
        the output as ``forward`` returned it, before any hook replaces it."""
        self._live[0] = True
        for path in self._lm._called_modules():
            if path in paths and path not in self._wrapped:
                self._wrapped[path] = _recorder(self._lm._module(path), path, self)

    def stop(self) -> None:
        self._live[0] = False  # a wrapper that someone else re-wrapped records nothing
        wrapped, self._wrapped = self._wrapped, {}
        for restore in wrapped.values():
            restore()

    def wrapped(self) -> list[str]:
        """Paths whose ``forward`` is wrapped right now."""
        return list(self._wrapped)


def wrap_forward(
    module: torch.nn.Module, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Callable[[], None]:
    """Install ``make(module.forward)`` as the instance's ``forward`` and return the
    function that takes it off again: what was on the instance before comes back (or
    nothing, so the class's ``forward`` applies), unless someone wrapped the module
    again since, whose wrapper is then left in place. A wrapper on the instance, not a
    hook: a module with no hooks keeps torch's fast call path."""
    before = module.__dict__.get("forward", _NOTHING)
    forward = module.forward
    wrapper = make(forward)
    wrapper.__wrapped__ = forward  # type: ignore[attr-defined]  # inspect.signature
    module.forward = wrapper

    def restore() -> None:
        if module.__dict__.get("forward") is not wrapper:
            return  # wrapped again by someone else since: leave their wrapper
        if before is _NOTHING:
            del module.forward
        else:
            module.forward = before

    return restore


def _recorder(module: torch.nn.Module, path: str, recording: Recording) -> Callable[[], None]:
    """Install on ``module`` a ``forward`` that keeps its result in the current step's
    dict; returns what takes it off."""
    outputs, live = recording.current, recording._live

    def make(forward: Callable[..., Any]) -> Callable[..., Any]:
        def recording_forward(*args: Any, **kwargs: Any) -> Any:
            output = forward(*args, **kwargs)
            if live[0]:
                outputs[0].setdefault(path, output)
            return output

        return recording_forward

    return wrap_forward(module, make)
