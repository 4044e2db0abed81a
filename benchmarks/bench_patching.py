"""Patching sweeps and attribution on the default model, against nnsight 0.8.1's pattern.

    python benchmarks/bench_patching.py             # every row, ~2 min on 2 cores
    python benchmarks/bench_patching.py --pairs 9   # more pairs

Rows (2 threads, paired: the two calls alternate, the ratio is the median of the
per-pair ratios):
- resid sweep, 30 layers × every position of the factual-recall pair, ``ji.patch``
  against nnsight 0.8.1's documented activation-patching pattern (a trace for the
  clean states, then one trace with one invoke per patch), as documented (gradients
  on, nnsight's default) and under ``torch.no_grad()``; the two grids must agree to
  1e-4. nnsight rows need ``pip install -e ".[bench]"``.
- TransformerLens' ``get_act_patch_resid_pre``: measured only if it is installed and
  loads this model without the hub (it says why not otherwise).
- attribution against the exact sweep (resid; and all four sites), and the Pearson
  correlation of the two heatmaps (reported, not a target).
- peak memory of the resid sweep: the high-water RSS of a fresh process (model included).
Results: a markdown table on stdout and ``benchmarks/results/patching.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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
CLEAN = "The Eiffel Tower is in the city of"
CORRUPT = "The Colosseum is in the city of"  # the same 9 tokens
SITES = ("resid", "attn", "mlp", "heads")


def nnsight_sweep(nn_model: Any, layers: int, length: int, answer: int, wrong: int) -> torch.Tensor:
    """nnsight 0.8.1's activation-patching pattern: the clean states from one trace, then
    one trace holding one invoke per (layer, position) patch. nnsight runs each with-body
    from its captured source, so values leave a block through containers made outside it."""
    import nnsight  # noqa: F401  (the pattern's own import)

    clean_states: list[Any] = []
    edges: dict[str, Any] = {}
    results: dict[tuple[int, int], Any] = {}
    with nn_model.trace(CLEAN):
        for layer in range(layers):
            clean_states.append(nn_model.model.layers[layer].output.save())
        edges["clean"] = nn_model.lm_head.output[:, -1].save()
    with nn_model.trace() as tracer:
        with tracer.invoke(CORRUPT):
            edges["corrupt"] = nn_model.lm_head.output[:, -1].save()
        for layer in range(layers):
            for position in range(length):
                with tracer.invoke(CORRUPT):
                    patched = nn_model.model.layers[layer].output
                    patched[:, position, :] = clean_states[layer][:, position, :]
                    logits = nn_model.lm_head.output[:, -1]
                    results[(layer, position)] = (logits[0, answer] - logits[0, wrong]).save()

    def difference(logits: Any) -> float:
        return float((logits[0, answer] - logits[0, wrong]).detach())

    high, low = difference(edges["clean"]), difference(edges["corrupt"])
    grid = torch.tensor(
        [[float(results[(i, p)].detach()) for p in range(length)] for i in range(layers)]
    )
    return (grid - low) / (high - low)


def bench_against_nnsight(model: Any, pairs: int) -> dict[str, Any] | None:
    if importlib.util.find_spec("nnsight") is None:
        return None
    import nnsight

    import jupyter_invoker as ji

    nn_model = nnsight.LanguageModel(model.hf_model, tokenizer=model.tokenizer)
    layers = len(model.model.layers)
    ours = ji.patch(model, CLEAN, CORRUPT, sites=("resid",))
    length = len(ours.positions)
    answer = model.tokenizer(" Paris", add_special_tokens=False).input_ids[0]
    wrong = model.tokenizer(" Rome", add_special_tokens=False).input_ids[0]

    def theirs() -> torch.Tensor:
        return nnsight_sweep(nn_model, layers, length, answer, wrong)

    def theirs_no_grad() -> torch.Tensor:
        with torch.no_grad():
            return theirs()

    def mine() -> Any:
        return ji.patch(model, CLEAN, CORRUPT, sites=("resid",))

    grid = theirs()
    out: dict[str, Any] = {
        "max_abs_difference": float((grid - ours["resid"]).abs().max()),
        "as_documented": paired(mine, theirs, pairs, warmup=1),
        "no_grad": paired(mine, theirs_no_grad, pairs, warmup=1),
        "patched_runs": layers * length,
    }
    return out


def bench_transformer_lens() -> str:
    if importlib.util.find_spec("transformer_lens") is None:
        return (
            "not installed. It would not load this model offline anyway: SmolLM2 is not among "
            "TransformerLens' supported models (OFFICIAL_MODEL_NAMES), and from_pretrained "
            "reads the model's config from the hub, which this machine cannot reach."
        )
    try:  # pragma: no cover - only where TransformerLens is installed
        from transformer_lens import HookedTransformer

        from jupyter_invoker.models import default_model_path

        HookedTransformer.from_pretrained(str(default_model_path()))
    except Exception as exc:
        return f"installed, but it does not load the default model: {type(exc).__name__}: {exc}"
    return "installed and loads the model: add its row"


def bench_attribution(model: Any, pairs: int) -> dict[str, Any]:
    import jupyter_invoker as ji

    out: dict[str, Any] = {}
    for name, sites in (("resid", ("resid",)), ("all_sites", SITES)):
        swept = ji.patch(model, CLEAN, CORRUPT, sites=sites)
        estimate = ji.attribute(model, CLEAN, CORRUPT, sites=sites)
        timing = paired(
            lambda sites=sites: ji.patch(model, CLEAN, CORRUPT, sites=sites),
            lambda sites=sites: ji.attribute(model, CLEAN, CORRUPT, sites=sites),
            pairs,
            warmup=1,
        )
        correlation = {}
        for site in sites:
            both = torch.stack([swept[site].flatten(), estimate[site].flatten()])
            correlation[site] = float(torch.corrcoef(both)[0, 1])
        out[name] = {
            "sweep_ms": timing["traced_ms"],
            "attribution_ms": timing["plain_ms"],
            "speedup": timing["ratio"],
            "speedup_q1": timing["ratio_q1"],
            "speedup_q3": timing["ratio_q3"],
            "correlation": correlation,
        }
    return out


_MEMORY_CHILD = r"""
import json, torch
torch.set_num_threads(2)
import jupyter_invoker as ji
from benchmarks.bench_patching import CLEAN, CORRUPT
from benchmarks.bench_tracing import _rss_kb, _reset_peak
model = ji.LanguageModel()
ji.patch(model, CLEAN, CORRUPT, sites=("resid",), layers=[29], positions=[8])  # warm
_reset_peak()
base = _rss_kb("VmRSS")
ji.patch(model, CLEAN, CORRUPT, sites=("resid",))
print(json.dumps({"peak_kb": _rss_kb("VmHWM"), "loaded_kb": base}))
"""


def bench_memory(repeats: int) -> dict[str, float]:
    """The resid sweep's peak RSS (the whole process: model, runs, batches), fresh each time."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD],
            capture_output=True, text=True, check=True, env=env, timeout=600,
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "peak_mb": statistics.median(r["peak_kb"] for r in runs) / 1024,
        "loaded_mb": statistics.median(r["loaded_kb"] for r in runs) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--memory-repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    from jupyter_invoker import LanguageModel

    model = LanguageModel()
    stamp = {"pairs": args.pairs, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results: dict[str, Any] = {
        **stamp,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": "cpu (no GPU was lent to this task: no CUDA rows)",
        "nnsight": bench_against_nnsight(model, args.pairs),
        "transformer_lens": bench_transformer_lens(),
        "attribution": bench_attribution(model, args.pairs),
        "memory": bench_memory(args.memory_repeats),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "patching.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| benchmark | baseline | jupyter_invoker | target |")
    print("|---|---|---|---|")
    nn = results["nnsight"]
    if nn is not None:
        for key, how in (("as_documented", "as documented"), ("no_grad", "under torch.no_grad()")):
            row = nn[key]
            print(
                f"| resid sweep, 30 layers × 9 positions ({nn['patched_runs']} patched runs), vs "
                f"nnsight 0.8.1's pattern {how} | {row['plain_ms']:.0f} ms | "
                f"{row['traced_ms']:.0f} ms (**{row['ratio']:.2f}×**; max |Δ| "
                f"{nn['max_abs_difference']:.1e}) | ≤ 0.5× |"
            )
    print(f"| TransformerLens get_act_patch_resid_pre | — | {results['transformer_lens']} | — |")
    for name, label in (("resid", "resid"), ("all_sites", "resid + attn + mlp + heads")):
        row = results["attribution"][name]
        corr = ", ".join(f"{k} {v:.2f}" for k, v in row["correlation"].items())
        print(
            f"| attribution vs exact sweep ({label}) | {row['sweep_ms']:.0f} ms | "
            f"{row['attribution_ms']:.0f} ms (**{row['speedup']:.1f}× faster**; correlation "
            f"{corr}) | ≥ 10× |"
        )
    memory = results["memory"]
    print(
        f"| resid sweep peak memory (whole process, model loaded: {memory['loaded_mb']:.0f} MB) "
        f"| — | **{memory['peak_mb']:.0f} MB** | ≤ 1.5 GB |"
    )


if __name__ == "__main__":
    main()
