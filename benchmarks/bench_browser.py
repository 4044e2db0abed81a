"""Activation browser: bytes per view, time to the first view, and control change to
repainted figure in Chromium.

    python benchmarks/bench_browser.py             # every case, ~6 min on 2 cores
    python benchmarks/bench_browser.py --repeats 9 --cycles 5
    python benchmarks/bench_browser.py --no-browser   # the kernel side only
    python benchmarks/bench_browser.py --only-browser # Chromium only, other results kept

Cases:
- ``default``: the default model, ``save_all()`` at every step of a 64-token prompt
  with 8 generated tokens; every view (attention from a second, eager run). Time to
  first view = ``show()``'s work without the display: read the saved run, reduce,
  build the figure, serialize what is sent.
- ``synthetic-70b``: saved tensors shaped like an 80-layer, 8192-wide model over 512
  tokens, a 128k vocabulary through a random low-rank stand-in for the unembedding.
- ``logitlenskit-shape``: 80 layers × 14 tokens, top-5 in every cell and the final
  top-5's trajectories at every position — the figure logitlenskit publishes at
  823 KB (its docs/DATA_FORMAT.md); all 1120 cells shown, nothing windowed.
- ``browser``: both shapes in a real JupyterLab in Debian's Chromium; each control is
  changed as a user does (``_lab.py``) and timed from its DOM event to the
  ``plotly_afterplot`` of the figure that shows the change (kernel rebuild, message,
  redraw), ``--cycles`` times each; the synthetic shape as 8 generation steps.

Bytes are the display bundle as a kernel sends it (jupyter_client's UTF-8 JSON).
Results: a markdown table on stdout and ``benchmarks/results/browser.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _synthetic import decode, stand_in_lens, synthetic_run
from bench_tracing import _prompt_64

from jupyter_invoker.widgets._capture import Capture, PromptRecord, collect
from jupyter_invoker.widgets._figures import (
    attention_figure,
    bundle_bytes,
    grid_figure,
    step_views,
)
from jupyter_invoker.widgets._figures_lens import lens_figure
from jupyter_invoker.widgets._reduce import family_summary, module_output, residual_norm
from jupyter_invoker.widgets._reduce_attention import attention
from jupyter_invoker.widgets._reduce_lens import MAX_LENS_CELLS, Lens, logit_lens
from jupyter_invoker.widgets._spec import ViewSpec
from jupyter_invoker.widgets._views import build

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

    def generate() -> Any:
        with model.generate(max_new_tokens=8, do_sample=False) as generator:
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
        eager = generate()
    finally:
        model.hf_model.set_attn_implementation("sdpa")
    views["attention"] = bundle_bytes(build(collect(eager), ViewSpec(view="attention")))
    return {"prompt_tokens": n_prompt, "steps": 8, **timing, "bytes": views}


class _Words:
    """A stand-in tokenizer: token ``i`` reads `` word000000i``."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> Any:
        return types.SimpleNamespace(input_ids=[0])

    def batch_decode(self, ids: list[list[int]]) -> list[str]:
        return decode([row[0] for row in ids])


def synthetic_capture(steps: int = 8) -> Capture:
    """The 80-layer × 8192 × 512-token shape as a capture ``show()`` takes, with a
    stand-in model (the final norm and low-rank unembedding of ``stand_in_lens``)."""
    lens = stand_in_lens(8192, 128_000)
    hf_model = torch.nn.Module()
    hf_model.config = types.SimpleNamespace(model_type="llama", vocab_size=128_000)
    hf_model.model = torch.nn.Module()
    hf_model.model.layers = torch.nn.ModuleList(torch.nn.Identity() for _ in range(80))
    hf_model.model.norm = lens.norm
    hf_model.lm_head = lens.head
    model = types.SimpleNamespace(hf_model=hf_model, tokenizer=_Words())
    run = synthetic_run(80, 8192, 512, 64, steps=steps + 1)
    return Capture(runs=[run], model=model, mode="generate")


def lens_bytes(run: PromptRecord, lens: Lens, max_cells: int) -> int:
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


# -- the browser ----------------------------------------------------------------------

_DEFAULT_CELL = """\
import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
model = LanguageModel()
with model.generate(max_new_tokens=8, do_sample=False) as generator:
    with generator.invoke({prompt!r}) as invoker:
        for _ in range(8):
            invoker.save_all()
            invoker.next()
browser = ji.show(generator)"""
_SYNTHETIC_CELL = """\
import sys
sys.path.insert(0, {folder!r})
import torch
import jupyter_invoker as ji
from bench_browser import synthetic_capture
torch.set_grad_enabled(False)
browser = ji.show(synthetic_capture())"""


def _controls(last_step: int, last_position: int) -> list[tuple[str, Callable[[Any], None], Any]]:
    """(name, act on the page, check of the figure) for every control a cycle changes."""
    from _lab import enter, select, slide

    def title(start: str) -> Any:
        return lambda f: f["title"].startswith(start)

    return [
        ("view → residual_norm", lambda p: select(p, "view", "residual_norm"), title("Residual")),
        ("colour → log", lambda p: select(p, "scale", "log"), lambda f: "log scale" in f["notes"]),
        ("colour → robust", lambda p: select(p, "scale", "robust (clip outliers)"),
         lambda f: "log scale" not in f["notes"]),
        ("minus → token before", lambda p: select(p, "diff", "− token before (step t − t−1)"),
         lambda f: "each token" in f["title"]),
        ("minus → none", lambda p: select(p, "diff", "none"), lambda f: "each token" not in f["title"]),
        ("view → family", lambda p: select(p, "view", "family"), title("model.layers.*.mlp")),
        ("view → module", lambda p: select(p, "view", "module"), lambda f: " output" in f["title"]),
        ("view → logit_lens", lambda p: select(p, "view", "logit_lens"), title("Logit lens ·")),
        ("step → 0", lambda p: slide(p, "Home"), lambda f: "· step 0" in f["title"]),
        ("step → last", lambda p: slide(p, "End"), lambda f: f"· step {last_step}" in f["title"]),
        ("position", lambda p: enter(p, "position", str(last_position - 3)),
         lambda f: f["menu"].startswith(f"pos {last_position - 3} ")),
        ("top-k → 3", lambda p: enter(p, "top_k", "3"), lambda f: f["hover"].count("<br>") == 3),
        ("top-k → 5", lambda p: enter(p, "top_k", "5"), lambda f: f["hover"].count("<br>") == 5),
        ("position → last", lambda p: enter(p, "position", str(last_position)),
         lambda f: f["menu"].startswith(f"pos {last_position} ")),
    ]  # fmt: skip


def bench_in_chromium(cycles: int) -> dict[str, Any]:
    from _lab import change_ms, chromium, lab

    from jupyter_invoker import LanguageModel

    tokenizer = LanguageModel().tokenizer
    prompt = _prompt_64(tokenizer)
    n_prompt = len(tokenizer(prompt).input_ids)
    root = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    cases = {
        "default": (_DEFAULT_CELL.format(prompt=prompt), 7, n_prompt + 6),
        "synthetic-70b": (_SYNTHETIC_CELL.format(folder=str(Path(__file__).parent)), 8, 511),
    }
    results: dict[str, Any] = {}
    with lab(root) as server, chromium() as browser:
        for case, (cell, last_step, last_position) in cases.items():
            notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c0",
                                   "metadata": {}, "outputs": [], "source": cell}],
                        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                    "language": "python", "name": "python3"}},
                        "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
            (root / f"{case}.ipynb").write_text(json.dumps(notebook))
            page = server.notebook(browser, f"{case}.ipynb")
            samples: dict[str, list[float]] = {}
            for _ in range(cycles):
                for name, act, check in _controls(last_step, last_position):
                    ms = change_ms(page, lambda act=act, page=page: act(page), check)
                    samples.setdefault(name, []).append(ms)
            every = [ms for values in samples.values() for ms in values]
            results[case] = {
                "median_ms": statistics.median(every),
                "max_ms": max(every),
                "changes": len(every),
                "per_control_median_ms": {k: statistics.median(v) for k, v in samples.items()},
                "load_average": os.getloadavg()[0],
            }
            page.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=3, help="rounds of every control change")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    parser.add_argument(
        "--only-browser",
        action="store_true",
        help="the Chromium part; keep the rest of the results",
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.only_browser:
        results: dict[str, Any] = json.loads((RESULTS / "browser.json").read_text())
    else:
        results = {
            "default": bench_default(args.repeats),
            "synthetic-70b": bench_synthetic(args.repeats),
            "logitlenskit-shape": bench_logitlenskit_shape(),
        }
    if not args.no_browser:
        results["browser"] = bench_in_chromium(args.cycles)
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
    for case, row in results.get("browser", {}).items():
        print(f"\n{case}: control change → repainted figure, median {row['median_ms']:.0f} ms "
              f"(max {row['max_ms']:.0f} ms, {row['changes']} changes)")  # fmt: skip
        for name, ms in row["per_control_median_ms"].items():
            print(f"  {name}: {ms:.0f} ms")


if __name__ == "__main__":
    main()
