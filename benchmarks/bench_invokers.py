"""Invoker benchmarks: throughput of execute_many, overhead of the local invoker.

    python benchmarks/bench_invokers.py            # both; writes benchmarks/results/invokers.json
    python benchmarks/bench_invokers.py --only many

(a) ``many``: 200 prompts through ``execute_many`` (serverless invoker, real openai
    client) against a loopback OpenAI-compatible server in another process that
    answers every request after a fixed 50 ms; concurrency 16. Ideal wall time is
    200 x 50 ms / 16 = 0.625 s; target <= 1.3x.
(b) ``local``: ``execute`` on the local invoker (render, chat template, tracing
    contexts, generate, decode) against a plain ``hf_model.generate`` of the same
    pre-tokenized chat-templated prompt, same greedy settings; median of alternating
    pairs with ``torch.set_num_threads(2)``; target <= 1.05x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import paired

RESULTS = Path(__file__).resolve().parent / "results" / "invokers.json"

_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


# -- (a) the fixed-latency server, run in its own process --------------------------------
async def _serve(delay: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                await asyncio.sleep(delay)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(_BODY)}\r\n\r\n".encode()
                    + _BODY
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def bench_many(n: int = 200, delay: float = 0.05, concurrency: int = 16) -> dict[str, Any]:
    from jupyter_invoker.invokers import execute_many
    from jupyter_invoker.prompty import load

    proc = subprocess.Popen(
        [sys.executable, __file__, "--fake-server", str(delay)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        folder = Path(tempfile.mkdtemp())
        path = folder / "bench.prompty"
        path.write_text(
            "---\nname: bench\nmodel:\n  api: chat\n  configuration:\n    type: serverless\n"
            f"    endpoint: http://127.0.0.1:{port}/v1\n    model: bench\n"
            "  parameters:\n    max_tokens: 4\n---\nuser:\nSay {{word}}.\n"
        )
        prompt = load(path)
        inputs = [{"word": f"w{i}"} for i in range(n)]
        execute_many(prompt, inputs[:concurrency], concurrency=concurrency)  # warm-up
        runs, sdk_runs, http_runs = [], [], []
        for _ in range(5):
            started = time.perf_counter()
            results = execute_many(prompt, inputs, concurrency=concurrency)
            runs.append(time.perf_counter() - started)
            assert [r.text for r in results] == ["ok"] * n
            sdk_runs.append(asyncio.run(_floor_sdk(port, n, concurrency)))
            http_runs.append(asyncio.run(_floor_http(port, n, concurrency)))
    finally:
        proc.terminate()
        proc.wait(10)
    ideal = n * delay / concurrency
    wall = statistics.median(runs)
    return {
        "name": f"execute_many {n} prompts, 50 ms server, concurrency {concurrency}",
        "value_s": round(wall, 4),
        "ideal_s": round(ideal, 4),
        "ratio": round(wall / ideal, 3),
        "target_ratio": 1.3,
        "runs_s": [round(r, 4) for r in runs],
        # the same requests without jupyter_invoker, for context: the SDK alone, and
        # plain httpx2 (no SDK): what this machine's single event loop allows
        "floor_openai_sdk_s": round(statistics.median(sdk_runs), 4),
        "floor_httpx2_s": round(statistics.median(http_runs), 4),
    }


async def _floor_sdk(port: int, n: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with gate:
            messages: Any = [{"role": "user", "content": f"Say w{i}."}]
            return await client.chat.completions.create(
                model="bench", messages=messages, max_tokens=4
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def _floor_http(port: int, n: int, concurrency: int) -> float:
    import httpx2

    gate = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient() as client:

        async def one(i: int) -> Any:
            async with gate:
                body = {"model": "bench", "messages": [{"role": "user", "content": f"Say w{i}."}]}
                response = await client.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions", json=body
                )
                return response.json()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


# -- (b) local invoker overhead ------------------------------------------------------------
def bench_local(pairs: int = 20, max_new_tokens: int = 16) -> dict[str, Any]:
    import torch

    from jupyter_invoker.invokers import execute
    from jupyter_invoker.invokers._local import model_slot
    from jupyter_invoker.prompty import load, prepare

    torch.set_num_threads(2)
    folder = Path(tempfile.mkdtemp())
    path = folder / "capital.prompty"
    path.write_text(
        "---\nname: capital\nmodel:\n  api: chat\n  parameters:\n"
        f"    max_tokens: {max_new_tokens}\n---\nuser:\n"
        "What is the capital of France? Answer in one word.\n"
    )
    prompt = load(path)
    lm = model_slot(None).model
    hf, tok = lm.hf_model, lm.tokenizer
    messages = prepare(prompt)
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    options = {"max_new_tokens": max_new_tokens, "do_sample": False}
    options["pad_token_id"] = tok.pad_token_id

    def plain() -> Any:
        with torch.no_grad():
            return hf.generate(**enc, **options)

    def ours() -> Any:
        return execute(prompt)

    # same tokens out, or the comparison means nothing
    reference = tok.decode(plain()[0, enc["input_ids"].shape[-1] :], skip_special_tokens=True)
    assert ours().text == reference, (ours().text, reference)
    timing = paired(ours, plain, pairs)
    return {
        "name": f"local invoker vs plain hf_model.generate ({max_new_tokens} new tokens)",
        "value_s": round(timing["traced_ms"] / 1e3, 4),
        "plain_s": round(timing["plain_ms"] / 1e3, 4),
        "ratio": round(timing["ratio"], 3),
        "target_ratio": 1.05,
        "pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["many", "local"])
    parser.add_argument("--fake-server", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_server is not None:
        asyncio.run(_serve(args.fake_server))
        return
    rows = []
    if args.only in (None, "many"):
        rows.append(bench_many())
    if args.only in (None, "local"):
        rows.append(bench_local())
    print("| measurement | time (s) | baseline (s) | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        base = row.get("ideal_s", row.get("plain_s"))
        verdict = "ok" if row["ratio"] <= row["target_ratio"] else "MISSED"
        print(
            f"| {row['name']} | {row['value_s']} | {base} | {row['ratio']}x | "
            f"<= {row['target_ratio']}x ({verdict}) |"
        )
        if "floor_openai_sdk_s" in row:
            for label, key in (
                ("openai SDK alone", "floor_openai_sdk_s"),
                ("httpx2 alone", "floor_httpx2_s"),
            ):
                value = row[key]
                print(
                    f"| (floor) same 200 requests, {label} | {value} | {row['ideal_s']} | "
                    f"{round(value / row['ideal_s'], 3)}x | context |"
                )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    measured = {r["name"]: r for r in previous.get("measurements", [])}
    measured.update({r["name"]: r for r in rows})
    payload = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "measurements": list(measured.values()),
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
