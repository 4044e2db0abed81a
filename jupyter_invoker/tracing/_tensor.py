"""The values a with-body sees: real tensors, marked so they can be ``.save()``-d.

    out = model.lm_head.output          # a TracedTensor: a torch.Tensor sharing storage
    probs = out.softmax(-1).save()      # derived tensors are TracedTensors too
    probs.value                         # the plain torch.Tensor (nnsight 0.1 compatibility)

Values handed to the body are light subclass views (no copy: in-place edits reach
the model); anything handed back to the model is unwrapped to a plain tensor first,
so the model never computes on the subclass. Both directions are autograd views
(``as_subclass`` makes an alias that stays in the graph): the model continues with a
plain view *of the body's value*, so the body's value lies on the path from the
module to the loss, and ``h.retain_grad()`` / ``torch.autograd.grad(loss, h)`` work on
it under ``trace(grad=True)``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["TracedTensor", "TracedTuple", "unwrap", "wrap"]

# Set by the active Invoker: called with (value, source name or None) on `.save()`.
_save_sink: list[Callable[[Any, str | None], None]] = []
_derived_names = itertools.count()


def _register_save(value: Any, source: str | None) -> None:
    if _save_sink:
        _save_sink[-1](value, source)


class TracedTensor(torch.Tensor):
    """A ``torch.Tensor`` that can be marked with :meth:`save` (the result of tracing)."""

    _ji_source: str | None = None

    def save(self) -> TracedTensor:
        """Keep this value after the context exits and show it in the activation browser.

        Returns the tensor itself (no copy)."""
        _register_save(self, self._ji_source)
        return self

    @property
    def value(self) -> torch.Tensor:
        """The plain ``torch.Tensor`` behind this value."""
        return self.as_subclass(torch.Tensor)

    def __repr__(self, *, tensor_contents: Any = None) -> Any:  # type: ignore[override]
        return repr(self.as_subclass(torch.Tensor))

    def __reduce_ex__(self, proto: Any) -> Any:
        # torch.save / pickle store a plain tensor: files never depend on this package.
        return self.as_subclass(torch.Tensor).__reduce_ex__(proto)


class TracedTuple(tuple):  # type: ignore[type-arg]
    """A module output that is a tuple, with ``.save()`` like a tensor."""

    _ji_source: str | None = None

    def save(self) -> TracedTuple:
        _register_save(self, self._ji_source)
        return self

    @property
    def value(self) -> tuple[Any, ...]:
        return tuple(unwrap(item) for item in self)


def wrap(value: Any, source: str | None = None) -> Any:
    """Tensor -> TracedTensor view (shares storage); tuples, lists, dicts and model-output
    objects (``CausalLMOutputWithPast``) element-wise, as new containers."""
    if isinstance(value, torch.Tensor):
        wrapped = value.as_subclass(TracedTensor)
        wrapped._ji_source = source
        return wrapped
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        out = TracedTuple(wrap(item, source) for item in value)
        out._ji_source = source
        return out
    if type(value) is list:
        return [wrap(item, source) for item in value]
    if type(value) is dict:
        return {key: wrap(item, source) for key, item in value.items()}
    if _is_model_output(value):
        # Each field saves under its own name: `model.output.logits.save()` is
        # "<root>.output.logits", not a module output.
        fields = {key: wrap(item, source and f"{source}.{key}") for key, item in value.items()}
        return _rebuild(value, fields)
    return value


def unwrap(value: Any) -> Any:
    """The inverse of :func:`wrap`: plain tensors (views of the traced ones, so gradients
    flow back to them), plain tuples, lists, dicts and model-output objects."""
    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(unwrap(item) for item in value)
    if type(value) is list:
        return [unwrap(item) for item in value]
    if type(value) is dict:
        return {key: unwrap(item) for key, item in value.items()}
    if _is_model_output(value):
        return _rebuild(value, {key: unwrap(item) for key, item in value.items()})
    return value


def _is_model_output(value: Any) -> bool:
    """A transformers ``ModelOutput``: an ordered dict that is also a dataclass."""
    return isinstance(value, dict) and dataclasses.is_dataclass(value)


def _rebuild(value: Any, items: dict[str, Any]) -> Any:
    """The same model-output class holding ``items`` (the original when it cannot be
    rebuilt: the body then sees it unwrapped, which loses only ``.save()``)."""
    try:
        return type(value)(**items)
    except (TypeError, ValueError):
        return value


def derived_name() -> str:
    return f"saved_{next(_derived_names)}"
