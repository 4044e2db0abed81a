"""Activation patching and attribution patching: the heatmaps interpretability work is built on.

    import jupyter_invoker as ji
    model = ji.LanguageModel()
    clean, corrupt = "The Eiffel Tower is in the city of", "The Colosseum is in the city of"
    swept = ji.patch(model, clean, corrupt, sites=("resid", "attn", "mlp", "heads"))
    swept.effect          # (site, layer, position): 0 = corrupt, 1 = clean answer restored
    swept.head_effect     # (layer, head)
    estimate = ji.attribute(model, clean, corrupt, sites=("resid", "attn", "mlp", "heads"))
    swept.show(estimate)  # the sweep, the attribution estimate and their difference

``patch`` runs every patched run exactly (batched, reusing what a patch cannot change);
``attribute`` estimates them all from one forward and backward per prompt.
"""

from __future__ import annotations

from ._api import attribute, patch
from ._result import PatchResult

__all__ = ["PatchResult", "attribute", "patch"]
