"""The 70B-class shape the activation browser is sized for, without a 70B model: a
synthetic record of saved outputs (80 layers × 8192 wide × 512 tokens, 64 heads) and a
stand-in for the final norm and a 128k-token unembedding (low rank, so it fits in
memory). ``bench_browser.py`` measures its bytes and redraw time; the payload tests
bound the same shape's bytes.

    run = synthetic_run(80, 8192, 512, 64, steps=9)   # 8 generation steps
    lens = stand_in_lens(8192, 128_000)
"""

from __future__ import annotations

from typing import Any

import torch

from jupyter_invoker.widgets._capture import PromptRecord
from jupyter_invoker.widgets._reduce_lens import Lens

__all__ = ["decode", "stand_in_lens", "synthetic_run"]


def synthetic_run(layers: int, width: int, tokens: int, heads: int, steps: int = 1) -> PromptRecord:
    """``steps`` generation steps over a prompt of ``tokens - steps + 1`` tokens."""
    gen = torch.Generator().manual_seed(0)
    prompt = tokens - steps + 1
    bases = [torch.randn(1, prompt, width, generator=gen) for _ in range(3)]  # shared: memory
    scores = torch.randn(1, heads, prompt, prompt, generator=gen)
    causal = torch.ones(prompt, prompt).triu(1).bool()
    weights = scores.masked_fill(causal, float("-inf")).softmax(-1)
    saved: dict[int, dict[str, Any]] = {0: {}}
    for i in range(layers):
        saved[0][f"model.layers.{i}.self_attn"] = (bases[i % 3], weights)
        saved[0][f"model.layers.{i}.mlp"] = bases[(i + 1) % 3]
        saved[0][f"model.layers.{i}"] = bases[(i + 2) % 3]
    for step in range(1, steps):
        one = torch.randn(1, 1, width, generator=gen)
        row = torch.rand(1, heads, 1, prompt + step, generator=gen)
        row /= row.sum(-1, keepdim=True)
        saved[step] = {}
        for i in range(layers):
            saved[step][f"model.layers.{i}.self_attn"] = (one, row)
            saved[step][f"model.layers.{i}.mlp"] = one
            saved[step][f"model.layers.{i}"] = one
    names = [f" token{i:06d}" for i in range(tokens)]  # 12 characters: the longest label
    return PromptRecord(label="synthetic", tokens=names, n_prompt=prompt, steps=saved)


def stand_in_lens(width: int, vocab: int) -> Lens:
    torch.manual_seed(0)
    head = torch.nn.Sequential(
        torch.nn.Linear(width, 64, bias=False), torch.nn.Linear(64, vocab, bias=False)
    )
    return Lens("model.layers", "model.norm", "lm_head", torch.nn.LayerNorm(width), head)


def decode(ids: list[int]) -> list[str]:
    return [f" word{i:07d}" for i in ids]
