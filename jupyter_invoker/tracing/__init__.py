"""Tracing a local transformers model with eager Generator / Invoker contexts.

from jupyter_invoker.tracing import LanguageModel
model = LanguageModel()
with model.generate(max_new_tokens=3) as generator:
    with generator.invoke("The Eiffel Tower is in the city of") as invoker:
        hidden = model.model.layers[10].output      # a real tensor, right now
        print(hidden.shape)
        logits = model.lm_head.output.save()
print(invoker.text)                                   # " Paris..."
"""

from __future__ import annotations

from ._contexts import Generator, Invoker
from ._handles import ModuleHandle
from ._model import LanguageModel
from ._tensor import TracedTensor, TracedTuple

__all__ = ["Generator", "Invoker", "LanguageModel", "ModuleHandle", "TracedTensor", "TracedTuple"]
