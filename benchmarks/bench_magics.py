"""What the magics cost: %load_ext, %%invoke against the same contexts by hand, first token.

    python benchmarks/bench_magics.py            # ~2 min on 2 cores
    python benchmarks/bench_magics.py --pairs 31

Rows (each a paired ratio, see ``_paired``, in one IPython shell whose displays go to
a publisher that only keeps them, as a kernel's would be sent):

- ``%load_ext jupyter_invoker`` in a fresh process (median of 5), and whether it
  imported torch, transformers, openai or plotly;
- a ``%%invoke "..." --max-new-tokens 8`` cell (streaming display on) against the
  cell a user would write by hand, ``with model.generate(max_new_tokens=8) as
  generator: with generator.invoke(prompt) as invoker: <body>``; target ≤ 1.02×;
  the same with ``--no-display``;
- time from the cell's start to the first streamed token on screen (the first
  display update holding text) against the model's own time to first token
  (``generate`` with a streamer, from the prompt text); target ≤ 1.1×.

Results: a markdown table on stdout and ``benchmarks/results/magics.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import paired

RESULTS = Path(__file__).parent / "results"
PROMPT = "The Eiffel Tower is in the city of"
BODY = "hidden = model.model.layers[10].output\n"
MAGIC = f'%%invoke "{PROMPT}" --max-new-tokens 8\n{BODY}'
HAND = (
    "with model.generate(max_new_tokens=8) as generator:\n"
    f"    with generator.invoke({PROMPT!r}) as invoker:\n"
    "        hidden = model.model.layers[10].output\n"
)


class Keeper(DisplayPublisher):
    """Keeps display messages (a kernel would send them) and when text first showed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_text_at: float | None = None
        self.count = 0

    def publish(self, data: Any, *args: Any, update: bool = False, **kwargs: Any) -> None:
        self.count += 1
        text = str(data.get("text/plain", "")).partition("\n")[2]
        if self.first_text_at is None and text:
            self.first_text_at = time.perf_counter()


def bench_load_ext() -> dict[str, Any]:
    code = (
        "import sys, time\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "start = time.perf_counter()\n"
        "shell.run_line_magic('load_ext', 'jupyter_invoker')\n"
        "elapsed = time.perf_counter() - start\n"
        "heavy = [m for m in ('torch', 'transformers', 'openai', 'plotly') if m in sys.modules]\n"
        "print(elapsed, ','.join(heavy))\n"
    )
    times, heavy = [], set()
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        elapsed, _, loaded = out.stdout.strip().partition(" ")
        times.append(float(elapsed))
        heavy |= {m for m in loaded.split(",") if m}
    return {"load_ext_s": statistics.median(times), "heavy_imports": sorted(heavy)}


def _run(shell: InteractiveShell, cell: str) -> Callable[[], None]:
    def run() -> None:
        result = shell.run_cell(cell, silent=True)
        result.raise_error()

    return run


def bench_first_token(
    shell: InteractiveShell, keeper: Keeper, model: Any, pairs: int
) -> dict[str, float]:
    hf, tok = model.hf_model, model.tokenizer

    class FirstToken:
        def __init__(self) -> None:
            self.at: float | None = None
            self.calls = 0

        def put(self, value: Any) -> None:
            self.calls += 1
            if self.calls == 2 and self.at is None:  # the first put is the prompt
                self.at = time.perf_counter()

        def end(self) -> None:
            pass

    def plain() -> float:
        streamer = FirstToken()
        start = time.perf_counter()
        ids = tok(PROMPT, return_tensors="pt")
        hf.generate(**ids, max_new_tokens=8, pad_token_id=tok.pad_token_id, streamer=streamer)
        assert streamer.at is not None
        return streamer.at - start

    def magic() -> float:
        keeper.first_text_at = None
        start = time.perf_counter()
        _run(shell, MAGIC)()
        assert keeper.first_text_at is not None
        return keeper.first_text_at - start

    for _ in range(2):
        plain(), magic()
    ratios, t_magic, t_plain = [], [], []
    for i in range(pairs):
        first, second = (magic, plain) if i % 2 == 0 else (plain, magic)
        a, b = first(), second()
        m, p = (a, b) if first is magic else (b, a)
        ratios.append(m / p)
        t_magic.append(m)
        t_plain.append(p)
    return {
        "ratio": statistics.median(ratios),
        "magic_ms": 1e3 * statistics.median(t_magic),
        "plain_ms": 1e3 * statistics.median(t_plain),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    load = bench_load_ext()
    from jupyter_invoker import LanguageModel

    shell = InteractiveShell.instance()
    keeper = Keeper(parent=shell)
    shell.display_pub = keeper
    shell.run_line_magic("load_ext", "jupyter_invoker")
    model = LanguageModel()
    shell.user_ns["model"] = model
    invoke = paired(_run(shell, MAGIC), _run(shell, HAND), args.pairs)
    quiet = MAGIC.replace("--max-new-tokens 8", "--max-new-tokens 8 --no-display")
    invoke_quiet = paired(_run(shell, quiet), _run(shell, HAND), args.pairs)
    first = bench_first_token(shell, keeper, model, args.pairs)
    results = {
        **load,
        "invoke_vs_hand": invoke,
        "invoke_no_display_vs_hand": invoke_quiet,
        "first_token": first,
        "pairs": args.pairs,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "magics.json").write_text(json.dumps(results, indent=2) + "\n")
    heavy = ", ".join(load["heavy_imports"]) or "none"
    print("| benchmark | by hand / plain | magic | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| %load_ext jupyter_invoker (heavy imports: {heavy}) | — | "
          f"{load['load_ext_s'] * 1e3:.1f} ms | — | < 300 ms |")  # fmt: skip
    for label, row in (
        ("%%invoke --max-new-tokens 8, streaming display", invoke),
        ("%%invoke --max-new-tokens 8 --no-display", invoke_quiet),
    ):
        print(f"| {label} | {row['plain_ms']:.1f} ms | {row['traced_ms']:.1f} ms | "
              f"{row['ratio']:.3f}× | ≤ 1.02× |")  # fmt: skip
    print(f"| cell start -> first streamed token | {first['plain_ms']:.1f} ms | "
          f"{first['magic_ms']:.1f} ms | {first['ratio']:.3f}× | ≤ 1.1× |")  # fmt: skip


if __name__ == "__main__":
    main()
