"""Load test of the OpenAI-compatible server: many concurrent streaming clients, every reply checked exactly.

    python -m benchmarks.server_load [--requests 64] [--words 300] [--deadline 120] [--timeout 60]
    python -m benchmarks.server_load --base-url http://127.0.0.1:8000/v1 --served-model scripted-load
    python -m benchmarks.server_load --model PATH [--clients 1,4,8] [--requests 8] [--max-tokens 32]
    python -m benchmarks.server_load --model PATH --engines ours,vllm --clients 1,8   # vs vLLM, one run
    python -m benchmarks.server_load --base-url URL1 --base-url URL2 ...   # requests spread over engines

With --model (a checkpoint folder or .gguf file), see `benchmarks/perf/server_load_real.py`: aggregate tokens/s of
`qwen-agent serve --backend transformers` at 1, 4 and 8 concurrent streaming clients, same requests; with
`--engines ours,vllm` the same passes against a real vLLM (benchmarks/perf/vllm_engine.py) too, one after the other.
`--base-url` may be given several times: request i goes to URL i mod n (one engine per URL, or a router).

By default it starts `qwen-agent serve --backend scripted` in a subprocess on 127.0.0.1 (a free port), with
known long replies. Each reply starts with its own id, so a client can look up the exact text it must
receive whichever reply the server's queue hands it; any difference (lost, duplicated or interleaved
pieces) counts as corrupted. Against --base-url, run that server with the script this tool writes
(--write-script FILE) and `--served-model-name scripted-load`.

Prints requests/s, streamed characters/s, Qwen tokens/s (the received text counted with the Qwen tokenizer
given by --tokenizer, a qwen.tiktoken file or checkpoint folder; without it the server's usage figure, which
the scripted backend reports in characters), latency percentiles, errors, and the ratio of concurrent to
sequential throughput measured in the same run (sequential: --baseline requests, one at a time).
Exits 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import openai

MODEL = "scripted-load"
COUNT_TOKENS = None  # set from --tokenizer
_ID = re.compile(r"^R(\d{4}):")


def make_replies(n: int, words: int) -> list[str]:
    """n distinct long replies; reply i starts with `R{i:04d}:` and mixes ASCII, digits and non-ASCII."""
    vocab = ["alpha", "beta", "gamma", "δέλτα", "通义", "千问", "42", "tool", "Observation", "{json}", "\\n"]
    return [f"R{i:04d}: " + " ".join(f"{vocab[(i * 7 + j) % len(vocab)]}{j}" for j in range(words))
            for i in range(n)]


@dataclass
class Outcome:
    ok: int = 0
    corrupted: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)
    chars: int = 0
    completion_tokens: int = 0
    texts: list[str] = field(default_factory=list)


async def one_request(client: openai.AsyncOpenAI, model: str, replies: list[str], i: int, out: Outcome,
                      timeout: float) -> None:
    start = time.monotonic()
    try:
        text, first, usage = await asyncio.wait_for(_stream(client, model, i, start), timeout)
    except (asyncio.TimeoutError, openai.APIError) as e:
        out.errors.append(f"request {i}: {type(e).__name__}: {e}")
        return
    m = _ID.match(text)
    if m is None or int(m.group(1)) >= len(replies) or replies[int(m.group(1))] != text:
        out.corrupted += 1
        out.errors.append(f"request {i}: reply differs from every scripted reply (starts {text[:40]!r})")
        return
    out.ok += 1
    out.latencies.append(time.monotonic() - start)
    out.first_token.append(first)
    out.chars += len(text)
    out.completion_tokens += usage
    out.texts.append(text)


async def _stream(client: openai.AsyncOpenAI, model: str, i: int, start: float) -> tuple[str, float, int]:
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"request {i}"}], stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    first = 0.0
    usage = 0
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
        for choice in chunk.choices:
            if choice.delta.content:
                first = first or time.monotonic() - start
                parts.append(choice.delta.content)
    return "".join(parts), first, usage


async def run_load(base_urls: list[str], api_key: str, model: str, replies: list[str], n: int, concurrency: int,
                   timeout: float, deadline: float) -> tuple[Outcome, float]:
    """`n` requests, `concurrency` in flight, request i sent to `base_urls[i % len(base_urls)]`."""
    out = Outcome()
    clients = [openai.AsyncOpenAI(base_url=url, api_key=api_key, max_retries=0, timeout=timeout)
               for url in base_urls]
    sem = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> None:
        async with sem:
            await one_request(clients[i % len(clients)], model, replies, i, out, timeout)

    start = time.monotonic()
    tasks = [asyncio.create_task(bounded(i)) for i in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for t in pending:
        t.cancel()
    out.errors += [f"global deadline of {deadline} s passed with {len(pending)} requests unfinished"] if pending else []
    elapsed = time.monotonic() - start
    for client in clients:
        await client.close()
    return out, elapsed


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, out: Outcome, elapsed: float, n: int) -> float:
    rps = out.ok / elapsed if elapsed else 0.0
    tokens = sum(map(COUNT_TOKENS, out.texts)) if COUNT_TOKENS else out.completion_tokens  # after the clock
    print(f"{label}: {out.ok}/{n} complete and exact, {out.corrupted} corrupted, "
          f"{len(out.errors) - out.corrupted} failed, {elapsed:.2f} s")
    print(f"  throughput: {rps:.2f} requests/s, {out.chars / elapsed:,.0f} chars/s, "
          f"{tokens / elapsed:,.0f} {'Qwen tokens' if COUNT_TOKENS else 'usage tokens'}/s")
    if out.latencies:
        print(f"  latency p50 {statistics.median(out.latencies):.3f} s, p95 {_pct(out.latencies, 0.95):.3f} s; "
              f"first token p50 {statistics.median(out.first_token):.3f} s, p95 {_pct(out.first_token, 0.95):.3f} s")
    for e in out.errors[:5]:
        print(f"  ! {e}")
    return rps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(serve_args: list[str], startup: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`python -m qwen_agent serve *serve_args` on a free loopback port; waits until it answers."""
    port = _free_port()
    cmd = [sys.executable, "-m", "qwen_agent", "serve", *serve_args, "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[2])
    base_url = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=2)
    deadline = time.monotonic() + startup
    while True:
        try:
            client.models.list()
            return proc, base_url
        except openai.APIConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the server did not start within {startup:.0f} s") from None
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=None,
                    help="concurrent streaming requests (default 64; with --model: requests per pass, default 8)")
    ap.add_argument("--concurrency", type=int, default=64, help="requests in flight at once")
    ap.add_argument("--baseline", type=int, default=8, help="sequential requests for the baseline")
    ap.add_argument("--words", type=int, default=300, help="words per scripted reply")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    ap.add_argument("--deadline", type=float, default=120.0, help="global deadline of the load phase, seconds")
    ap.add_argument("--base-url", action="append",
                    help="use a running server instead of starting one; repeat to spread requests over several")
    ap.add_argument("--api-key", default="none")
    ap.add_argument("--served-model", default=MODEL, help="the model id to ask --base-url for")
    ap.add_argument("--model", help="a real checkpoint (folder or .gguf): measure batched decoding instead")
    ap.add_argument("--clients", default="1,4,8", help="with --model: concurrent clients of each pass")
    ap.add_argument("--engines", default="ours",
                    help="with --model: 'ours' (qwen-agent serve), 'vllm' (a real vLLM), or both, comma-separated")
    ap.add_argument("--max-tokens", type=int, default=32, help="with --model: tokens per request")
    ap.add_argument("--startup", type=float, default=600.0, help="with --model: seconds to wait for the server")
    ap.add_argument("--write-script", type=Path, help="write the scripted replies (JSON) here and exit")
    ap.add_argument("--tokenizer", type=Path, help="qwen.tiktoken file or checkpoint folder, to count tokens")
    args = ap.parse_args(argv)
    if args.model:
        from benchmarks.perf.server_load_real import run

        args.requests = args.requests or 8
        args.timeout = max(args.timeout, 1800.0)
        return run(args, start_server)
    args.requests = args.requests or 64
    if args.tokenizer:
        from qwen_agent.llm.tokenizer import QwenTokenizer

        global COUNT_TOKENS
        COUNT_TOKENS = QwenTokenizer.from_pretrained(args.tokenizer).count

    replies = make_replies(max(args.requests, args.baseline), args.words)
    if args.write_script:
        args.write_script.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
        return 0
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        base_urls = args.base_url
        if not base_urls:
            script = Path(tmp) / "replies.json"
            script.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
            proc, base_url = start_server(["--backend", "scripted", "--script", str(script),
                                           "--served-model-name", MODEL])
            base_urls = [base_url]
        try:
            print(f"server {', '.join(base_urls)}, {len(replies)} scripted replies of {args.words} words "
                  f"(~{sum(map(len, replies)) // len(replies)} chars)")
            seq, seq_t = asyncio.run(run_load(base_urls, args.api_key, args.served_model, replies, args.baseline, 1,
                                              args.timeout, args.deadline))
            seq_rps = report(f"sequential baseline ({args.baseline} requests, 1 at a time)", seq, seq_t,
                             args.baseline)
            load, load_t = asyncio.run(run_load(base_urls, args.api_key, args.served_model, replies, args.requests,
                                                args.concurrency, args.timeout, args.deadline))
            rps = report(f"concurrent ({args.requests} requests, {args.concurrency} in flight)", load, load_t,
                         args.requests)
            print(f"ratio concurrent/sequential throughput: {rps / seq_rps:.2f}x" if seq_rps else "ratio: n/a")
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
    return 0 if not (seq.errors or load.errors) else 1


if __name__ == "__main__":
    raise SystemExit(main())
