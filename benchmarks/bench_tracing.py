"""Tracing overhead on the default model: paired ratios against plain transformers.

    python benchmarks/bench_tracing.py            # all rows, ~3 min on 2 cores
    python benchmarks/bench_tracing.py --pairs 31 # more pairs
    python benchmarks/bench_tracing.py --rows c --pairs 41  # one row; other results kept
    python benchmarks/bench_tracing.py --rows dm            # save_all(only=...), with memory

Each row times the traced call and the plain call alternately (pair after pair,
same process, same inputs) and reports the median of the per-pair ratios, which
cancels slow drifts of the machine. nnsight 0.8.1 rows are measured in the same run
when it is installed (`pip install -e ".[bench]"`). Peak memory of ``save_all`` is the
high-water RSS of a fresh process per repeat, traced minus plain, against the bytes
of the saved tensors. Row (c) also counts the page faults per call (memory the kernel
has to map and zero because the last run's was not freed in time), and measures its
floor: a plain forward whose hooks keep the same outputs, no tracing. Row (d) is
``save_all(only="model.layers.*.mlp")``: only the 30 MLPs are recorded, so its time and
memory should be those of keeping 30 outputs, not 395. Results: a markdown table on
stdout and
``benchmarks/results/tracing.json`` (``--rows`` updates only the rows it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import paired

RESULTS = Path(__file__).parent / "results"
PROMPT = "The Eiffel Tower is in the city of"


def _prompt_64(tokenizer: Any) -> str:
    words = (
        "The history of Paris spans many centuries of art, science and politics. " * 12
    ).split()
    text = ""
    for word in words:
        candidate = f"{text} {word}".strip()
        if len(tokenizer(candidate).input_ids) > 64:
            break
        text = candidate
    return text


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _with_faults(fn: Any, counts: list[int]) -> Any:
    def counted() -> Any:
        before = _minor_faults()
        try:
            return fn()
        finally:
            counts.append(_minor_faults() - before)

    return counted


ONLY = "model.layers.*.mlp"


def bench_ours(model: Any, pairs: int, rows: str = "abcd") -> dict[str, dict[str, float]]:
    hf, tok = model.hf_model, model.tokenizer
    ids = tok(PROMPT, return_tensors="pt")
    n_layers = len(model.model.layers)

    def plain_forward() -> Any:
        with torch.no_grad():
            return hf(**ids, use_cache=False)

    def traced_forward() -> Any:
        with model.trace(PROMPT):
            return [model.model.layers[i].output.save() for i in range(n_layers)]

    def plain_generate() -> Any:
        return hf.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)

    def traced_generate() -> Any:
        with model.generate(PROMPT, max_new_tokens=8, do_sample=False):
            return model.lm_head.output.save()

    long_prompt = _prompt_64(tok)
    long_ids = tok(long_prompt, return_tensors="pt")

    def plain_long() -> Any:
        with torch.no_grad():
            return hf(**long_ids, use_cache=False)

    def traced_save_all() -> Any:
        with model.trace(long_prompt) as tracer:
            assert tracer.invoker is not None
            return tracer.invoker.save_all()

    def traced_save_only() -> Any:
        with model.trace(long_prompt) as tracer:
            assert tracer.invoker is not None
            return tracer.invoker.save_all(only=ONLY)

    def keep_with_hooks() -> Any:
        # The floor for row (c): the same outputs kept by plain forward hooks, no tracing.
        kept: list[Any] = []
        handles = [
            m.register_forward_hook(lambda _m, _i, out: kept.append(out)) for m in kept_by_save_all
        ]
        try:
            with torch.no_grad():
                hf(**long_ids, use_cache=False)
        finally:
            for handle in handles:
                handle.remove()
        return kept

    kept_by_save_all = [hf.get_submodule(path) for path in traced_save_all()]

    results = {}
    if "a" in rows:
        results["a"] = paired(traced_forward, plain_forward, pairs)
    if "b" in rows:
        results["b"] = paired(traced_generate, plain_generate, pairs)
    if "c" in rows:
        traced_faults: list[int] = []
        plain_faults: list[int] = []
        results["c"] = paired(
            _with_faults(traced_save_all, traced_faults),
            _with_faults(plain_long, plain_faults),
            pairs,
        )
        results["c"]["traced_page_faults"] = statistics.median(traced_faults)
        results["c"]["plain_page_faults"] = statistics.median(plain_faults)
        results["c_floor"] = paired(keep_with_hooks, plain_long, pairs)
        results["c_floor"]["modules"] = len(kept_by_save_all)
    if "d" in rows:
        results["d"] = paired(traced_save_only, plain_long, pairs)
        results["d"]["modules"] = len(traced_save_only())
    return results


def bench_nnsight(model: Any, pairs: int, rows: str = "ab") -> dict[str, dict[str, float]] | None:
    try:
        import nnsight
    except ImportError:
        return None
    hf, tok = model.hf_model, model.tokenizer
    nn_model = nnsight.LanguageModel(hf, tokenizer=tok)
    ids = tok(PROMPT, return_tensors="pt")
    n_layers = len(model.model.layers)

    def plain_forward() -> Any:
        with torch.no_grad():
            return hf(**ids, use_cache=False)

    # nnsight runs the with-body from its captured source: results go through a list
    # created outside the block (its locals are not written back into this function).
    def nn_forward() -> Any:
        box: list[Any] = []
        with nn_model.trace(PROMPT, use_cache=False):
            for i in range(n_layers):
                box.append(nn_model.model.layers[i].output.save())
        return box

    def plain_generate() -> Any:
        return hf.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)

    def nn_generate() -> Any:
        box: list[Any] = []
        with nn_model.generate(PROMPT, max_new_tokens=8, do_sample=False):
            box.append(nn_model.lm_head.output.save())
        return box

    results = {}
    if "a" in rows:
        results["a"] = paired(nn_forward, plain_forward, pairs)
    if "b" in rows:
        results["b"] = paired(nn_generate, plain_generate, pairs)
    return results


_MEMORY_CHILD = r"""
import json, sys, torch
torch.set_num_threads(2)
from jupyter_invoker import LanguageModel
from benchmarks.bench_tracing import _prompt_64, _rss_kb, _reset_peak
mode = sys.argv[1]
only = sys.argv[2] if len(sys.argv) > 2 else None
model = LanguageModel()
prompt = _prompt_64(model.tokenizer)
ids = model.tokenizer(prompt, return_tensors="pt")
with torch.no_grad():
    model.hf_model(**ids, use_cache=False)  # warm: kernels, allocator, dry run
model._event_order()
_reset_peak()
base = _rss_kb("VmRSS")
saved_bytes = 0
if mode == "plain":
    with torch.no_grad():
        out = model.hf_model(**ids, use_cache=False)
else:
    with model.trace(prompt) as tracer:
        saved = tracer.invoker.save_all(only=only)
    storages = {}
    for value in saved.values():
        for t in (value if isinstance(value, tuple) else (value,)):
            if isinstance(t, torch.Tensor):
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    saved_bytes = sum(storages.values())
print(json.dumps({"growth_kb": _rss_kb("VmHWM") - base, "saved_bytes": saved_bytes}))
"""


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def bench_memory(repeats: int, only: str | None = None) -> dict[str, float]:
    """Peak RSS growth during one call, in a fresh process each time. Large blocks are
    mmap-ed (MALLOC_MMAP_THRESHOLD_) so freed memory leaves RSS at once and the peak
    is the call's own high-water mark, as torch.cuda.max_memory_allocated is on GPU.
    ``only``: save_all(only=only) instead of every module."""

    def child(mode: str) -> dict[str, float]:
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "MALLOC_MMAP_THRESHOLD_": "65536",
        }
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, mode, *([only] if only else [])],
            capture_output=True, text=True, check=True, env=env, timeout=300,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    plain = [child("plain")["growth_kb"] for _ in range(repeats)]
    traced_runs = [child("save_all") for _ in range(repeats)]
    traced = [r["growth_kb"] for r in traced_runs]
    saved_mb = traced_runs[0]["saved_bytes"] / 2**20
    plain_mb = statistics.median(plain) / 1024
    traced_mb = statistics.median(traced) / 1024
    return {
        "saved_mb": saved_mb,
        "plain_peak_mb": plain_mb,
        "traced_peak_mb": traced_mb,
        "extra_mb": traced_mb - plain_mb,
        "extra_over_saved": (traced_mb - plain_mb) / saved_mb,
    }


def bench_import() -> float:
    times = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import jupyter_invoker"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        last = [ln for ln in out.stderr.splitlines() if ln.rstrip().endswith("jupyter_invoker")]
        times.append(int(last[-1].split("|")[1]) / 1e6)
    return statistics.median(times)


def bench_load(model_cls: Any) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model_cls()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--memory-repeats", type=int, default=3)
    parser.add_argument(
        "--rows",
        default="abcdmi",
        help="timing rows to run, e.g. 'c'; 'm' adds the memory rows, 'i' import and load "
        "times (all of them when --rows is not given); results of rows not run are kept",
    )
    args = parser.parse_args()
    if not args.rows or set(args.rows) - set("abcdmi"):
        parser.error("--rows takes letters among a-d (timing), m (memory), i (import/load)")
    rows = args.rows
    stamp = {"pairs": args.pairs, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    torch.set_num_threads(2)
    from jupyter_invoker import LanguageModel

    path = RESULTS / "tracing.json"
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    model = LanguageModel()
    fresh = bench_ours(model, args.pairs, rows)
    ours = {**previous.get("ours", {}), **{k: {**v, **stamp} for k, v in fresh.items()}}
    theirs = bench_nnsight(model, args.pairs, rows)
    if theirs is not None or previous.get("nnsight"):
        fresh_nn = {k: {**v, **stamp} for k, v in (theirs or {}).items()}
        theirs = {**(previous.get("nnsight") or {}), **fresh_nn}
    results = {
        **previous,
        "ours": ours,
        "nnsight": theirs,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if "m" in rows:
        results["memory"] = bench_memory(args.memory_repeats)
        results["memory_only"] = {"only": ONLY, **bench_memory(args.memory_repeats, ONLY)}
    if "i" in rows:
        results["import_s"] = bench_import()
        results["load_s"] = bench_load(LanguageModel)
    memory = results["memory"]
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    nn = theirs or {}
    table = [
        ("(a) forward, every decoder layer saved", "a", "≤ 1.10×"),
        ("(b) generate 8 tokens, lm_head saved", "b", "≤ 1.05×"),
        ("(c) save_all(), 64-token prompt", "c", "≤ 1.05×"),
    ]
    print("| benchmark | plain | jupyter_invoker | nnsight 0.8.1 | target |")
    print("|---|---|---|---|---|")
    for label, key, target in table:
        mine = ours[key]
        other = f"{nn[key]['ratio']:.3f}×" if key in nn else "—"
        print(
            f"| {label} | {mine['plain_ms']:.1f} ms | {mine['ratio']:.3f}× | {other} | {target} |"
        )
    if "c_floor" in ours:
        floor = ours["c_floor"]
        print(
            f"| (c) floor: plain forward + hooks keeping the same {floor['modules']} outputs "
            f"| {floor['plain_ms']:.1f} ms | {floor['ratio']:.3f}× | — | — |"
        )
    print(
        f"| (c) save_all() peak memory over plain | — | +{memory['extra_mb']:.1f} MB for "
        f"{memory['saved_mb']:.1f} MB saved ({memory['extra_over_saved']:.2f}×) | — | ≤ 1.10× |"
    )
    if "d" in ours:
        mine = ours["d"]
        print(
            f"| (d) save_all(only={ONLY!r}), 64-token prompt ({mine['modules']} modules) | "
            f"{mine['plain_ms']:.1f} ms | {mine['ratio']:.3f}× | — | ≤ 1.02× |"
        )
    if "memory_only" in results:
        only = results["memory_only"]
        print(
            f"| (d) save_all(only=...) peak memory over plain | — | +{only['extra_mb']:.1f} MB "
            f"for {only['saved_mb']:.1f} MB saved ({only['extra_over_saved']:.2f}×) | — | ≤ 1.10× |"
        )
    print(f"| import jupyter_invoker | — | {results['import_s']:.3f} s | — | < 0.3 s |")
    print(f"| load cached default model | — | {results['load_s']:.2f} s | — | < 2 s |")


if __name__ == "__main__":
    main()
