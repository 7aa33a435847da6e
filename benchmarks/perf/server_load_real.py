"""Aggregate decode throughput of `qwen-agent serve --backend transformers` on a real checkpoint, with 1, 4
and 8 concurrent streaming clients (`python -m benchmarks.server_load --model PATH`).

One server process (started here on 127.0.0.1 with the CLI's defaults: int8 weights over bf16 on a CPU that
computes bf16 natively, `--quantize auto`) answers the same requests several times: one after another (the baseline), then with 4, then
with 8 in flight. Requests are distinct coding questions, greedy, with a fixed `max_tokens`, streamed. Tokens
are the server's `usage.completion_tokens`; throughput is their sum over the wall time of a pass, so prefills
(each joining prompt is prefilled alone while the batch waits) count against it. Printed per pass: tokens/s,
wall time, time to first token, the ratio to the sequential pass, and how many replies equal the sequential
pass's (greedy choices between near-tied tokens may flip: bf16 matmuls round differently at batch 8 than at
batch 1), with the machine's load average, since a shared CPU drifts between passes.

`--engines ours,vllm` runs the same passes against a real vLLM on the same model (the GGUF converted once to a
bf16 folder; vLLM-CPU computes in bf16) right after ours, one engine at a time, so both see the same machine.
`--base-url` (repeatable) measures running servers instead, request i going to URL i mod n.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import openai

TOPICS = ["a linked list", "a binary search tree", "an LRU cache", "a priority queue", "a trie",
          "an interval tree", "a ring buffer", "a union-find structure", "a sparse matrix", "a bloom filter",
          "a skip list", "a rate limiter", "a min-heap", "a graph with BFS and DFS", "a JSON tokenizer",
          "a matrix class"]  # fmt: skip
MODEL = "load-real"


def prompt(i: int) -> str:
    return f"Write {TOPICS[i % len(TOPICS)]} in Python, with docstrings and a short usage example."


@dataclass
class Pass:
    clients: int
    seconds: float = 0.0
    tokens: int = 0
    texts: dict[int, str] = field(default_factory=dict)
    first_token: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    load: float = 0.0


async def one(client: openai.AsyncOpenAI, model: str, i: int, max_tokens: int, out: Pass) -> None:
    start = time.monotonic()
    parts: list[str] = []
    try:
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt(i)}], max_tokens=max_tokens, temperature=0,
            stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.usage is not None:
                out.tokens += chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta.content:
                    if not parts:
                        out.first_token.append(time.monotonic() - start)
                    parts.append(choice.delta.content)
    except openai.APIError as e:
        out.errors.append(f"request {i}: {type(e).__name__}: {e}")
    out.texts[i] = "".join(parts)


async def run_pass(base_urls: list[str], model: str, clients: int, requests: int, max_tokens: int,
                   timeout: float) -> Pass:
    out = Pass(clients)
    conns = [openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=timeout) for url in base_urls]
    gate = asyncio.Semaphore(clients)

    async def bounded(i: int) -> None:
        async with gate:
            await one(conns[i % len(conns)], model, i, max_tokens, out)

    start = time.monotonic()
    await asyncio.gather(*(bounded(i) for i in range(requests)))
    out.seconds = time.monotonic() - start
    out.load = os.getloadavg()[0]
    for conn in conns:
        await conn.close()
    return out


def report(engine: str, p: Pass, base: Pass | None) -> None:
    rate = p.tokens / p.seconds
    same = sum(p.texts.get(i) == t for i, t in base.texts.items()) if base else len(p.texts)
    ratio = f"{rate / (base.tokens / base.seconds):.2f}x" if base else "1.00x"
    ttft = statistics.median(p.first_token) if p.first_token else float("nan")
    print(f"| {engine} | {p.clients} | {p.tokens} | {p.seconds:.1f} | {rate:.2f} | {ratio} | {ttft:.1f} | "
          f"{same}/{len(p.texts)} | {p.load:.1f} | {len(p.errors)} |", flush=True)
    for e in p.errors[:3]:
        print(f"  ! {e}")


def measure(engine: str, base_urls: list[str], model: str, args: Any) -> bool:
    """Warm up, then one pass per level of `args.clients`; prints the table rows, True when all succeeded."""
    asyncio.run(run_pass(base_urls, model, 1, 1, 4, args.timeout))  # warm-up: first forward passes are slower
    base, ok = None, True
    for clients in [int(c) for c in args.clients.split(",")]:
        p = asyncio.run(run_pass(base_urls, model, clients, args.requests, args.max_tokens, args.timeout))
        report(engine, p, base)
        base = base or p
        ok = ok and not p.errors
    return ok


def run(args: Any, start_server: Any) -> int:
    """Measure `args.base_url` servers, or start each of `args.engines` on `args.model` in turn and measure it."""
    print(f"{args.requests} requests of {args.max_tokens} tokens per pass, greedy, streamed; {os.cpu_count()} CPUs; "
          f"model {args.model}")
    print("| engine | clients | tokens | seconds | tokens/s | vs 1 client | TTFT p50 (s) | replies = sequential's "
          "| load avg | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    if args.base_url:
        return 0 if measure("given", args.base_url, args.served_model, args) else 1
    ok = True
    for engine in args.engines.split(","):
        if engine == "ours":
            cmd = ["--backend", "transformers", "--model", args.model, "--served-model-name", MODEL]
            proc, base_url = start_server(cmd, startup=args.startup)
            try:
                ok = measure("qwen-agent serve (int8, continuous batching)", [base_url], MODEL, args) and ok
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        elif engine == "vllm":
            ok = _measure_vllm(args) and ok
        else:
            raise SystemExit(f"unknown engine {engine!r}: use ours and/or vllm")
    return 0 if ok else 1


def _measure_vllm(args: Any) -> bool:
    import tempfile
    from pathlib import Path

    from benchmarks.perf.vllm_engine import SERVED_MODEL, VLLMServer, checkpoint_folder

    with tempfile.TemporaryDirectory() as tmp, VLLMServer(checkpoint_folder(args.model), Path(tmp) / "vllm.log",
                                                          startup=args.startup) as server:
        return measure("vLLM-CPU (bf16)", [server.base_url], SERVED_MODEL, args)
