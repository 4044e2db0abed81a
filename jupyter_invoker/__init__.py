"""jupyter_invoker: write a prompt once, run it anywhere, look inside local models.

    from jupyter_invoker import LanguageModel
    model = LanguageModel()                      # embedded SmolLM2-135M-Instruct
    with model.generate(max_new_tokens=3) as generator:
        with generator.invoke("The Eiffel Tower is in the city of"):
            logits = model.lm_head.output.save()

    import jupyter_invoker as ji
    prompt = ji.load("prompts/weather.prompty")
    result = ji.execute(prompt, {"city": "Seattle"}, invoker="openai")

    swept = ji.patch(model, "The Eiffel Tower is in the city of",
                            "The Colosseum is in the city of", sites=("resid", "heads"))
    swept.show()                                 # layer × token and layer × head heatmaps

Importing this package is cheap: torch, transformers and openai load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .invokers import InvokerFactory, execute, execute_async, execute_many
    from .patching import PatchResult, attribute, patch
    from .prompty import Prompty, load, prepare
    from .tracing import LanguageModel
    from .widgets import show

__all__ = [
    "InvokerFactory",
    "LanguageModel",
    "PatchResult",
    "Prompty",
    "__version__",
    "attribute",
    "execute",
    "execute_async",
    "execute_many",
    "load",
    "patch",
    "prepare",
    "show",
]

# Public name -> submodule that defines it; resolved on first attribute access so
# `import jupyter_invoker` stays free of torch/transformers/openai.
_LAZY = {
    "InvokerFactory": "invokers",
    "LanguageModel": "tracing",
    "PatchResult": "patching",
    "Prompty": "prompty",
    "attribute": "patching",
    "execute": "invokers",
    "execute_async": "invokers",
    "execute_many": "invokers",
    "load": "prompty",
    "patch": "patching",
    "prepare": "prompty",
    "show": "widgets",
}


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module 'jupyter_invoker' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{submodule}", __name__), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_invoker``: registers ``%%invoke``, ``%invoke``, ``%%generate`` and
    ``%invoker`` (torch, transformers and openai load when a magic first needs them)."""
    from .magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_invoker``: removes the magics again."""
    from .magics import unregister

    unregister(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server finds the sidebar's REST routes here (no tornado import until then)."""
    return [{"module": "jupyter_invoker.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built sidebar lies, for `jupyter labextension develop --overwrite .`."""
    return [{"src": "labextension", "dest": "jupyter-invoker"}]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
