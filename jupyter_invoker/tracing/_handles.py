"""Module handles: ``model.model.layers[3].mlp`` mirrors the HF module tree.

    layer = model.model.layers[10]
    hidden = layer.output                # (batch, pos, d_model) real tensor, body pauses for it
    layer.output = hidden * 0            # replace what the model continues with
    layer.output[:, -1] = 0              # in-place edits reach the model too
    args, kwargs = layer.inputs          # the call's arguments; layer.input is the first one

Attribute access falls through to the torch module for anything that is not a
child (``model.lm_head.weight``); a child whose name clashes with ``output``/``input``
is reachable as ``handle["output"]``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..exceptions import ModuleAttributeError, ModuleIndexError, TracingError

if TYPE_CHECKING:
    from ._model import LanguageModel

__all__ = ["ModuleHandle", "missing_attribute"]

_OWN = frozenset({"output", "input", "inputs"})


def missing_attribute(
    lm: LanguageModel, path: str, name: str, attributes: Iterable[str] = ()
) -> ModuleAttributeError:
    """The error for ``handle.<name>`` when the module has no such child or attribute,
    naming the close matches: a child first, then a module deeper down whose name is
    close (``model.mlp`` -> ``model.layers.0.mlp``), then a public attribute."""
    module = lm._module(path)
    children = list(module._modules)
    close = difflib.get_close_matches(name, children, n=3)
    if not close:
        prefix = f"{path}." if path else ""
        deeper = {
            sub[len(prefix) :]: sub.rsplit(".", 1)[-1]
            for sub in lm._modules
            if sub.startswith(prefix) and sub != path and "." in sub[len(prefix) :]
        }
        near = set(difflib.get_close_matches(name, set(deeper.values()), n=3))
        close = [sub for sub, last in deeper.items() if last in near][:3]
    if not close:
        public = {a for a in (*dir(module), *attributes) if not a.startswith("_")}
        close = difflib.get_close_matches(name, sorted(public), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    where = f"{path} ({type(module).__name__})" if path else f"The model ({type(module).__name__})"
    return ModuleAttributeError(
        f"{where} has no child module or attribute {name!r}.{hint} Its children are: "
        f"{', '.join(children) or 'none'}; print(model) shows the whole tree."
    )


class ModuleHandle:
    """One module of a :class:`LanguageModel`, addressed by its dotted path."""

    __slots__ = ("_lm", "_path")

    def __init__(self, lm: LanguageModel, path: str) -> None:
        object.__setattr__(self, "_lm", lm)
        object.__setattr__(self, "_path", path)

    @property
    def path(self) -> str:
        """The canonical name of this module (``model.layers.3.mlp``); ``""`` is the root."""
        path: str = self._path
        return path

    @property
    def module(self) -> Any:
        """The underlying ``torch.nn.Module``."""
        return self._lm._module(self._path)

    # ------------------------------------------------------------------ tree
    def _child(self, name: str) -> ModuleHandle:
        path = f"{self._path}.{name}" if self._path else name
        self._lm._module(path)
        return ModuleHandle(self._lm, path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        module = self._lm._module(self._path)
        if name in module._modules:
            return self._child(name)
        try:
            return getattr(module, name)
        except AttributeError:
            raise missing_attribute(self._lm, self._path, name) from None

    def __getitem__(self, key: int | str) -> ModuleHandle:
        module = self._lm._module(self._path)
        if isinstance(key, str):
            if key not in module._modules:
                raise TracingError(f"{self._path or '<root>'} has no child module {key!r}.")
            return self._child(key)
        names = list(module._modules)
        try:
            name = names[key]
        except IndexError:
            raise ModuleIndexError(
                f"{self._path or 'The model'} has {len(names)} children (indices 0 to "
                f"{len(names) - 1}, or -{len(names)} to -1 from the end); index {key} is out "
                "of range."
            ) from None
        return self._child(name)

    def __len__(self) -> int:
        return len(self._lm._module(self._path)._modules)

    def __iter__(self) -> Iterator[ModuleHandle]:
        for name in list(self._lm._module(self._path)._modules):
            yield self._child(name)

    def __repr__(self) -> str:
        return repr(self._lm._module(self._path))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._lm._module(self._path)(*args, **kwargs)

    # ------------------------------------------------------------------ values
    @property
    def output(self) -> Any:
        """This module's output at the invoker's current step (waits for the model)."""
        return self._run_request("output")

    @output.setter
    def output(self, value: Any) -> None:
        invoker = self._invoker("assign")
        invoker._run.assign(self._path, "output", invoker.step, value)

    @property
    def inputs(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` of this module's call at the current step (``.save()``-able)."""
        value: tuple[tuple[Any, ...], dict[str, Any]] = self._run_request("input")
        return value

    @inputs.setter
    def inputs(self, value: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict)):
            raise TracingError("Assign inputs as (args_tuple, kwargs_dict).")
        invoker = self._invoker("assign")
        invoker._run.assign(self._path, "input", invoker.step, (tuple(value[0]), value[1]))

    @property
    def input(self) -> Any:
        """The first argument of this module's call (positional, or by its parameter name)."""
        args, kwargs = self._run_request("input")
        if args:
            return args[0]
        name = self._first_parameter()
        if name in kwargs:
            return kwargs[name]
        raise TracingError(f"{self._path} was called without arguments; use .inputs instead.")

    @input.setter
    def input(self, value: Any) -> None:
        invoker = self._invoker("assign")
        args, kwargs = invoker._run.request(self._path, "input", invoker.step)
        if args:
            new: tuple[tuple[Any, ...], dict[str, Any]] = ((value, *args[1:]), dict(kwargs))
        else:
            new = (tuple(args), {**kwargs, self._first_parameter(): value})
        invoker._run.assign(self._path, "input", invoker.step, new)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)  # dispatches to the property setters
            return
        raise TracingError(
            f"Cannot set {name!r} on a module handle; assign .output, .input or .inputs."
        )

    def _first_parameter(self) -> str:
        module = self._lm._module(self._path)
        params = list(inspect.signature(module.forward).parameters)
        return params[0] if params else ""

    def _invoker(self, verb: str) -> Any:
        generator = self._lm._active_generator
        invoker = generator._current if generator is not None else None
        if invoker is None:
            where = (
                "inside `with generator.invoke(...)`"
                if generator
                else ("inside `with model.generate(...)`/`model.trace(...)` and an invoke")
            )
            raise TracingError(
                f"Cannot {verb} {self._path or '<root>'}: module values exist only {where}. "
                "To keep a value after the block, call .save() on it inside the block."
            )
        return invoker

    def _run_request(self, kind: str) -> Any:
        invoker = self._invoker("read")
        return invoker._run.request(self._path, kind, invoker.step)
