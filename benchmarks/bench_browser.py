"""Activation browser: bytes per view and time to the first view.

    python benchmarks/bench_browser.py             # all cases, ~2 min on 2 cores
    python benchmarks/bench_browser.py --repeats 9

Cases:
- ``default``: the default model, ``save_all()`` at every step of a 64-token prompt
  with 8 generated tokens; every view (attention from a second, eager run with
  ``output_attentions=True``). Time to first view = ``show()``'s work without the
  display: read the saved run, reduce, build the figure, serialize what is sent.
- ``synthetic-70b``: saved tensors shaped like an 80-layer, 8192-wide model over 512
  tokens, a 128k vocabulary through a random low-rank stand-in for the unembedding.
- ``logitlenskit-shape``: 80 layers × 14 tokens, top-5 in every cell and the final
  top-5's trajectories at every position — the figure logitlenskit publishes at
  823 KB (its docs/DATA_FORMAT.md); all 1120 cells shown, nothing windowed.

Bytes are the display bundle as a kernel sends it (jupyter_client's UTF-8 JSON).
Results: a markdown table on stdout and ``benchmarks/results/browser.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tracing import _prompt_64

from jupyter_invoker.widgets._figures import (
    attention_figure,
    bundle_bytes,
    grid_figure,
    lens_figure,
    step_views,
)
from jupyter_invoker.widgets._reduce import family_summary, module_output, residual_norm
from jupyter_invoker.widgets._reduce_attention import attention
from jupyter_invoker.widgets._reduce_lens import MAX_LENS_CELLS, Lens, logit_lens
from jupyter_invoker.widgets._source import Run, collect
from jupyter_invoker.widgets._views import ViewSpec, build

RESULTS = Path(__file__).parent / "results"
LOGITLENSKIT_BYTES = 823_000  # 80 layers × 14 tokens, V2 JSON (logitlenskit docs)


def _timed(fn: Callable[[], int], repeats: int) -> dict[str, float]:
    """Median wall and CPU milliseconds of ``fn`` (CPU time counts every thread; on a
    shared machine wall time also counts other processes), and the bytes it returned."""
    wall, cpu, size = [], [], 0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        size = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "first_view_ms": 1e3 * statistics.median(wall),
        "first_view_cpu_ms": 1e3 * statistics.median(cpu),
        "load_average": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
        "bytes": size,
    }


def bench_default(repeats: int) -> dict[str, Any]:
    from jupyter_invoker import LanguageModel

    model = LanguageModel()
    prompt = _prompt_64(model.tokenizer)

    def generate(**kwargs: Any) -> Any:
        with model.generate(max_new_tokens=8, do_sample=False, **kwargs) as generator:
            with generator.invoke(prompt) as invoker:
                for _ in range(8):
                    invoker.save_all()
                    invoker.next()
        return generator

    generator = generate()
    n_prompt = int(generator.invokers[0].input_ids.shape[-1])

    def first_view() -> int:  # what show(generator) does before displaying
        return bundle_bytes(build(collect(generator), ViewSpec(view="logit_lens")))

    first_view()  # warm-up: imports, the tokenizer's decode cache
    timing = _timed(first_view, repeats)
    timing.pop("bytes")
    capture = collect(generator)
    views = {
        view: bundle_bytes(build(capture, ViewSpec(view=view)))
        for view in ("logit_lens", "residual_norm", "module", "family")
    }
    model.hf_model.set_attn_implementation("eager")
    try:
        eager = generate(output_attentions=True)
    finally:
        model.hf_model.set_attn_implementation("sdpa")
    views["attention"] = bundle_bytes(build(collect(eager), ViewSpec(view="attention")))
    return {"prompt_tokens": n_prompt, "steps": 8, **timing, "bytes": views}


def synthetic_run(layers: int, width: int, tokens: int, heads: int) -> Run:
    gen = torch.Generator().manual_seed(0)
    bases = [torch.randn(1, tokens, width, generator=gen) for _ in range(3)]
    scores = torch.randn(1, heads, tokens, tokens, generator=gen)
    weights = scores.masked_fill(torch.ones(tokens, tokens).triu(1).bool(), float("-inf")).softmax(
        -1
    )
    saved: dict[str, Any] = {}
    for i in range(layers):
        saved[f"model.layers.{i}.self_attn"] = (bases[i % 3], weights)
        saved[f"model.layers.{i}.mlp"] = bases[(i + 1) % 3]
        saved[f"model.layers.{i}"] = bases[(i + 2) % 3]
    names = [f" token{i:06d}" for i in range(tokens)]  # 12 characters: the longest label
    return Run(label="synthetic", tokens=names, n_prompt=tokens, steps={0: saved})


def stand_in_lens(width: int, vocab: int) -> Lens:
    torch.manual_seed(0)
    head = torch.nn.Sequential(
        torch.nn.Linear(width, 64, bias=False), torch.nn.Linear(64, vocab, bias=False)
    )
    return Lens("model.layers", "model.norm", "lm_head", torch.nn.LayerNorm(width), head)


def decode(ids: list[int]) -> list[str]:
    return [f" word{i:07d}" for i in ids]


def lens_bytes(run: Run, lens: Lens, max_cells: int) -> int:
    data = logit_lens(run, lens, top_k=5, max_cells=max_cells)
    fig = lens_figure(data, run, decode, lens, step_views(run, data.positions, "lens"))
    return bundle_bytes(fig)


def bench_synthetic(repeats: int) -> dict[str, Any]:
    run = synthetic_run(80, 8192, 512, 64)
    lens = stand_in_lens(8192, 128_000)
    timing = _timed(lambda: lens_bytes(run, lens, MAX_LENS_CELLS), repeats)
    views = {"logit_lens": int(timing.pop("bytes"))}
    for name, grid in (
        ("residual_norm", residual_norm(run)),
        ("family", family_summary(run, "model.layers.*.mlp")),
        ("module", module_output(run, "model.layers.40.mlp")),
    ):
        views[name] = bundle_bytes(grid_figure(grid, step_views(run, grid.positions, grid.title)))
    data = attention(run, layer=79)
    views["attention"] = bundle_bytes(attention_figure(data, run, []))
    shape = "80 layers × 8192 wide × 512 tokens × 128k vocab"
    return {"shape": shape, **timing, "bytes": views}


def bench_logitlenskit_shape() -> dict[str, Any]:
    run = synthetic_run(80, 8192, 14, 1)
    size = lens_bytes(run, stand_in_lens(8192, 128_000), max_cells=80 * 14)
    return {"shape": "80 layers × 14 tokens, top-5", "ours_bytes": size,
            "logitlenskit_bytes": LOGITLENSKIT_BYTES, "ratio": size / LOGITLENSKIT_BYTES}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    results = {
        "default": bench_default(args.repeats),
        "synthetic-70b": bench_synthetic(args.repeats),
        "logitlenskit-shape": bench_logitlenskit_shape(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "browser.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| case | view | bytes | first view |\n|---|---|---|---|")
    for case in ("default", "synthetic-70b"):
        row = results[case]
        for view, size in row["bytes"].items():
            first = ""
            if view == "logit_lens":
                first = (f"{row['first_view_ms']:.0f} ms wall, {row['first_view_cpu_ms']:.0f} ms "
                         f"CPU ({row['threads']} threads, load {row['load_average']:.1f})")  # fmt: skip
            print(f"| {case} | {view} | {size / 1e3:.0f} KB | {first} |")
    kit = results["logitlenskit-shape"]
    print(f"| logitlenskit shape | logit_lens | {kit['ours_bytes'] / 1e3:.0f} KB "
          f"(logitlenskit {kit['logitlenskit_bytes'] / 1e3:.0f} KB) | |")  # fmt: skip


if __name__ == "__main__":
    main()
