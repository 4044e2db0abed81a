"""The embedded default model: SmolLM2-135M-Instruct, offline.

    from jupyter_invoker.models import default_model_path, resolve_model
    folder = default_model_path()      # fetch + convert once, then a cache hit (~ms)
    resolve_model(None)                # JUPYTER_INVOKER_MODEL, else the default folder

From a shell: ``python -m jupyter_invoker.models fetch`` (idempotent).
"""

from __future__ import annotations

from ._default import (
    DEFAULT_MODEL_NAME,
    MODEL_ENV_VAR,
    cache_dir,
    default_model_path,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "MODEL_ENV_VAR",
    "cache_dir",
    "default_model_path",
    "resolve_model",
]
