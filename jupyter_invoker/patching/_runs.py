"""Plain forwards of the HF model for patching: the captured clean / corrupted runs and
the batched patched runs.

    run = capture(model, layout, ids, wanted={("mlp", 3)}, keep_cache=True)
    run.acts[("mlp", 3)]        # (pos, d_model): the MLP's output, batch row 0
    run.resid[5]                # (pos, d_model): layer 5's output (every layer is kept)
    logits = patched_forward(model, layout, ids, clean, corrupt, rows, start=4, stub_below=3)

A patched forward runs ``rows`` copies of the corrupted prompt at once, from position
``start`` on (the corrupted run's key/value cache stands for the positions before it),
with the layers below ``stub_below`` replaced by a stub that returns the corrupted
run's residual stream at that depth (nothing below a patch changes it). Hooks restore
each row's site from the clean run. Everything is removed again in ``finally``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from ..tracing._recording import wrap_forward
from ._sites import Layout

if TYPE_CHECKING:
    from ..tracing import LanguageModel

__all__ = ["Captured", "Row", "capture", "last_logits_only", "patched_forward"]


class Row(NamedTuple):
    """One patched run: restore ``site`` of ``layer`` at ``at`` (a position, or a head
    for ``heads``)."""

    site: str
    layer: int
    at: int  # a position, or a head for "heads"

    @property
    def position(self) -> int:
        """The first position the patch can change."""
        return 0 if self.site == "heads" else self.at

    @property
    def first_layer(self) -> int:
        """The lowest layer whose computation the patch can change."""
        return self.layer + 1 if self.site == "resid" else self.layer


@dataclass
class Captured:
    """What one unpatched run of one prompt kept."""

    acts: dict[tuple[str, int], torch.Tensor]  # (site, layer) -> (pos, width)
    resid: list[torch.Tensor]  # every layer's output, (pos, d_model)
    logits: torch.Tensor  # (vocab,), the final position
    cache: Any  # the key/value cache, when asked for


def _first(value: Any) -> torch.Tensor:
    return value[0] if isinstance(value, tuple) else value  # type: ignore[no-any-return]


def _cache_keyword(hf: Any) -> str:
    """transformers 5.25 renamed ``past_key_values`` to ``cache``."""
    params = inspect.signature(hf.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _takes(hf: Any, name: str) -> bool:
    return name in inspect.signature(hf.forward).parameters


def last_logits_only(lm: LanguageModel) -> dict[str, Any]:
    """The forward option that unembeds only the final position, where the model has it
    (the metric reads nothing else; the vocabulary projection is the costliest layer)."""
    return {"logits_to_keep": 1} if _takes(lm.hf_model, "logits_to_keep") else {}


def capture(
    lm: LanguageModel,
    layout: Layout,
    ids: torch.Tensor,
    wanted: set[tuple[str, int]],
    *,
    keep_cache: bool = False,
) -> Captured:
    """One forward of ``ids`` (1, pos) keeping the ``wanted`` sites and every layer's output."""
    acts: dict[tuple[str, int], torch.Tensor] = {}
    resid: list[torch.Tensor] = [torch.empty(0)] * layout.n_layers
    handles = []

    def keep_output(key: tuple[str, int]) -> Any:
        def hook(_module: Any, _args: Any, output: Any) -> None:
            value = _first(output)[0]
            if key[0] == "resid":
                resid[key[1]] = value
            if key in wanted:
                acts[key] = value

        return hook

    def keep_input(key: tuple[str, int]) -> Any:
        def hook(_module: Any, args: Any) -> None:
            acts[key] = args[0][0]

        return hook

    try:
        for layer in range(layout.n_layers):
            module = lm._module(layout.module("resid", layer))
            handles.append(module.register_forward_hook(keep_output(("resid", layer))))
        for site, layer in wanted:
            module = lm._module(layout.module(site, layer))
            if site == "heads":
                handles.append(module.register_forward_pre_hook(keep_input((site, layer))))
            elif site != "resid":
                handles.append(module.register_forward_hook(keep_output((site, layer))))
        with torch.no_grad():
            out = lm.hf_model(input_ids=ids, use_cache=keep_cache, **last_logits_only(lm))
    finally:
        for handle in handles:
            handle.remove()
    cache = (
        (getattr(out, "cache", None) or getattr(out, "past_key_values", None))
        if keep_cache
        else None
    )
    return Captured(acts, resid, out.logits[0, -1].float(), cache)


def prefix_cache(lm: LanguageModel, cache: Any, start: int, rows: int) -> Any:
    """A new cache holding the first ``start`` positions of ``cache``, for ``rows`` rows."""
    from transformers import DynamicCache

    layers = getattr(cache, "layers", None)
    if layers is None:
        raise TypeError(f"{type(cache).__name__} has no per-layer key/value states")
    data = [
        (
            layer.keys[:, :, :start].expand(rows, -1, -1, -1),
            layer.values[:, :, :start].expand(rows, -1, -1, -1),
        )
        for layer in layers
    ]
    return DynamicCache(ddp_cache_data=data, config=lm.hf_model.config)


def patched_forward(
    lm: LanguageModel,
    layout: Layout,
    corrupt_ids: torch.Tensor,
    clean: Captured,
    corrupt: Captured,
    rows: list[Row],
    *,
    start: int,
    stub_below: int,
    batch: int | None = None,
) -> torch.Tensor:
    """The final-position logits ``(rows, vocab)`` of the patched runs (``batch`` copies
    of the unpatched corrupted run when ``rows`` is empty)."""
    hf = lm.hf_model
    size = batch if batch is not None else len(rows)
    length = corrupt_ids.shape[-1]
    suffix = length - start
    kwargs: dict[str, Any] = {
        "input_ids": corrupt_ids[:, start:].expand(size, suffix),
        "use_cache": start > 0,
    }
    if _takes(hf, "position_ids"):
        positions = torch.arange(start, length, device=corrupt_ids.device)
        kwargs["position_ids"] = positions.expand(size, suffix)
    if start > 0:
        kwargs[_cache_keyword(hf)] = prefix_cache(lm, corrupt.cache, start, size)
    kwargs.update(last_logits_only(lm))
    with (
        _stubs(lm, layout, corrupt, stub_below, start, size),
        _patches(lm, layout, clean, rows, start),
        torch.no_grad(),
    ):
        out = hf(**kwargs)
    return out.logits[:, -1].float()  # type: ignore[no-any-return]


@contextmanager
def _stubs(
    lm: LanguageModel, layout: Layout, corrupt: Captured, below: int, start: int, size: int
) -> Iterator[None]:
    """Layers ``0..below-1`` return the corrupted run's output of layer ``below-1``."""
    if below <= 0:
        yield
        return
    state = corrupt.resid[below - 1][start:]
    value = state.expand(size, *state.shape).contiguous()

    def stubbed(_forward: Any) -> Any:
        def stub(*_args: Any, **_kwargs: Any) -> torch.Tensor:
            return value

        return stub

    layers = [lm._module(layout.module("resid", layer)) for layer in range(below)]
    restores = [wrap_forward(layer, stubbed) for layer in layers]
    try:
        yield
    finally:
        for restore in restores:
            restore()


@contextmanager
def _patches(
    lm: LanguageModel, layout: Layout, clean: Captured, rows: list[Row], start: int
) -> Iterator[None]:
    """Hooks that restore each row's site from the clean run."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.site, row.layer), []).append(i)
    handles = []
    try:
        for (site, layer), members in groups.items():
            module = lm._module(layout.module(site, layer))
            source = clean.acts[(site, layer)]
            if site == "heads":
                heads = [rows[i].at for i in members]
                hook = _heads_hook(members, heads, source[start:], layout.head_dim)
                handles.append(module.register_forward_pre_hook(hook))
            else:
                spots = [rows[i].at - start for i in members]
                values = source[[rows[i].at for i in members]]
                handles.append(module.register_forward_hook(_site_hook(members, spots, values)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _site_hook(members: list[int], spots: list[int], values: torch.Tensor) -> Any:
    rows_index = torch.tensor(members)
    spots_index = torch.tensor(spots)

    def hook(_module: Any, _args: Any, output: Any) -> Any:
        tensor = _first(output)
        patched = tensor.clone()
        patched[rows_index, spots_index] = values.to(patched.dtype)
        return (patched, *output[1:]) if isinstance(output, tuple) else patched

    return hook


def _heads_hook(members: list[int], heads: list[int], source: torch.Tensor, head_dim: int) -> Any:
    """Pre-hook on the output projection: the rows' heads (every position) from ``source``."""
    mask = torch.zeros(max(members) + 1, 1, source.shape[-1], dtype=torch.bool)
    for row, head in zip(members, heads, strict=True):
        mask[row, 0, head * head_dim : (head + 1) * head_dim] = True

    def hook(_module: Any, args: Any) -> Any:
        x = args[0]
        full = mask
        if full.shape[0] < x.shape[0]:
            full = torch.nn.functional.pad(mask, (0, 0, 0, 0, 0, x.shape[0] - mask.shape[0]))
        return (torch.where(full.to(x.device), source.to(x.dtype), x), *args[1:])

    return hook
