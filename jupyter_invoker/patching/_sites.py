"""Where the patching sites live in a model, and the checks on what a caller asks for.

    layout = find_layout(model)          # model.layers / self_attn / mlp / o_proj on Llama
    layout.module("mlp", 3)              # "model.layers.3.mlp"
    check_sites("resid,heads")           # ("resid", "heads")
    check_indices([0, -1], 30, "layer")  # [0, 29]

Sites: ``resid`` is a decoder layer's output (the residual stream after it), ``attn``
its attention block's output and ``mlp`` its MLP's output, each at one (layer,
position); ``heads`` is one attention head's slice of the input of the attention's
output projection (the head's result before heads are mixed), at every position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..exceptions import PatchingError

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["POSITION_SITES", "SITES", "Layout", "check_indices", "check_sites", "find_layout"]

SITES = ("resid", "attn", "mlp", "heads")
POSITION_SITES = ("resid", "attn", "mlp")
_ATTENTION = ("self_attn", "attn", "attention", "self_attention")
_MLP = ("mlp", "feed_forward", "ffn")
_OUT_PROJ = ("o_proj", "c_proj", "out_proj", "dense")


@dataclass(frozen=True)
class Layout:
    """Module paths of the sites in one architecture."""

    layers: str  # the ModuleList of decoder layers, "model.layers"
    attn: str  # the attention block's name inside a layer, "self_attn"
    mlp: str  # the MLP's name inside a layer, "mlp"
    out_proj: str | None  # the attention's output projection, "o_proj" (heads need it)
    n_layers: int
    n_heads: int
    head_dim: int
    d_model: int

    def module(self, site: str, layer: int) -> str:
        base = f"{self.layers}.{layer}"
        if site == "resid":
            return base
        if site == "attn":
            return f"{base}.{self.attn}"
        if site == "mlp":
            return f"{base}.{self.mlp}"
        return f"{base}.{self.attn}.{self.out_proj}"


def find_layout(lm: LanguageModel) -> Layout:
    """The decoder layers and their attention / MLP blocks, found by their usual names."""
    hf = lm.hf_model
    config = hf.config.get_text_config() if hasattr(hf.config, "get_text_config") else hf.config
    n_layers = _first_int(config, "num_hidden_layers", "n_layer", "num_layers")
    candidates = [
        path
        for path, module in lm._modules.items()
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers and len(module)
    ]
    for path in candidates:
        layer = next(iter(lm._modules[path].children()))
        attn = next((n for n in _ATTENTION if n in layer._modules), None)
        mlp = next((n for n in _MLP if n in layer._modules), None)
        if attn is None or mlp is None:
            continue
        attention = layer.get_submodule(attn)
        out_proj = next((n for n in _OUT_PROJ if n in attention._modules), None)
        n_heads = _first_int(config, "num_attention_heads", "n_head", "num_heads")
        d_model = _first_int(config, "hidden_size", "n_embd", "d_model")
        head_dim = getattr(config, "head_dim", None) or d_model // n_heads
        return Layout(path, attn, mlp, out_proj, n_layers, n_heads, int(head_dim), d_model)
    raise PatchingError(
        f"Cannot find the decoder layers of {type(hf).__name__}: patching looks for a "
        f"ModuleList of {n_layers} layers, each with an attention block (one of "
        f"{', '.join(_ATTENTION)}) and an MLP (one of {', '.join(_MLP)}), as Llama, "
        "SmolLM2, Mistral, Qwen2 and GPT-2 have. print(model) shows this model's tree."
    )


def _first_int(config: Any, *names: str) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise PatchingError(
        f"The model's config has none of {', '.join(names)}; patching needs the number of "
        "layers, heads and the hidden size."
    )


def check_sites(sites: str | Iterable[str]) -> tuple[str, ...]:
    """``"resid,attn"`` or ``["resid", "attn"]`` -> ``("resid", "attn")``, in the order given."""
    names = sites.split(",") if isinstance(sites, str) else list(sites)
    cleaned = [str(name).strip() for name in names if str(name).strip()]
    unknown = [name for name in cleaned if name not in SITES]
    if unknown or not cleaned:
        what = f"Cannot patch the unknown site {unknown[0]!r}" if unknown else "No site to patch"
        raise PatchingError(
            f"{what}: sites are {', '.join(SITES)} (resid: a decoder layer's "
            "output, attn / mlp: its attention / MLP block's output, heads: one attention "
            "head at every position)."
        )
    return tuple(dict.fromkeys(cleaned))


def check_indices(values: Sequence[int] | int | None, size: int, what: str) -> list[int]:
    """Layer or position numbers (negative ones count from the end) -> sorted, in range."""
    if values is None:
        return list(range(size))
    items = [values] if isinstance(values, int) else list(values)
    if not items:
        raise PatchingError(f"No {what} to patch: pass at least one, or None for all {size}.")
    chosen = []
    for value in items:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PatchingError(f"A {what} is a whole number; got {value!r}.")
        if not -size <= value < size:
            raise PatchingError(
                f"{what.capitalize()} {value} is out of range: there are {size} {what}s "
                f"(0 to {size - 1}, or -{size} to -1 from the end)."
            )
        chosen.append(value % size)
    return sorted(set(chosen))
