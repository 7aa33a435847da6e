"""How much of each turn's prompt vLLM serves from its prefix cache over an agent episode, read from vLLM's own
`/metrics` (`vllm:prefix_cache_queries` and `vllm:prefix_cache_hits`, in tokens).

    python -m benchmarks.perf.vllm_prefix_cache                       # starts vLLM (benchmarks/perf/vllm_engine.py)
    python -m benchmarks.perf.vllm_prefix_cache --base-url http://127.0.0.1:8000/v1 --served-model NAME

For each tool_format ("auto": Hermes rendered by us; "server": vLLM renders the tools and parses the calls),
one episode of `--steps` model turns: a conversation of questions, each answered with the add tool, every
question sent with the whole conversation so far (as a chat UI or a multi-turn agent does), greedy. Each format
runs twice (`--starts`): on an empty cache, and on a cache that holds only the system turn and the tool
descriptions (as on a server whose other agents offer the same tools); /reset_prefix_cache empties it between
runs where the server allows it (its dev mode; otherwise the order is said). The counters are read around every
request, so each miss is pinned on its kind of turn: with the tools on offer, or without (the agent's answer
turn, a different prompt). Prints the hits of each request and the episode's hit rate: hit tokens / queried
tokens. vLLM caches whole blocks (`--block-size`; 32 in `vllm_engine`), so a turn's last partial block and its
new tokens (the question, the tool's result) are always a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks.perf.vllm_engine import SERVED_MODEL, VLLMServer, prefix_cache_counters, small_qwen_folder
from qwen_agent import Agent
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Message

QUESTIONS = [f"What is {a} + {b}? Use the add tool." for a, b in
             [(1234, 4321), (20, 22), (305, 17), (999, 1), (4096, 4096), (7, 35), (120, 80), (61, 39)]]


def add(a: int, b: int) -> int:
    """Add two integers and return their sum.

    Args:
        a: the first integer.
        b: the second integer.
    """
    return a + b


def _metrics(root: str) -> tuple[float, float]:
    with urllib.request.urlopen(root + "/metrics", timeout=10) as r:
        return prefix_cache_counters(r.read().decode())


def _reset(root: str) -> bool:
    """Empty vLLM's prefix cache (POST /reset_prefix_cache, offered in its dev mode); False when refused."""
    try:
        with urllib.request.urlopen(urllib.request.Request(root + "/reset_prefix_cache", method="POST"), timeout=10):
            return True
    except OSError:
        return False


class _MeteredLLM(OpenAICompatLLM):
    """The openai backend, reading vLLM's prefix-cache counters around each request, so a miss is pinned on the
    kind of turn that paid it: a turn with the tools on offer, or one without (the agent's answer turn)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rows: list[tuple[str, float, float]] = []  # (kind, queried, hit) per request

    def _metered(self, prompt: object) -> tuple[str, tuple[float, float]]:
        return ("tools" if _offers_tools(prompt) else "no tools"), _metrics(self.base_url.removesuffix("/v1"))

    def _record(self, kind: str, before: tuple[float, float]) -> None:
        after = _metrics(self.base_url.removesuffix("/v1"))
        self.rows.append((kind, after[0] - before[0], after[1] - before[1]))

    def _generate(self, prompt, stop, config) -> Generation:  # noqa: ANN001 - the backend hook's arguments
        kind, before = self._metered(prompt)
        try:
            return super()._generate(prompt, stop, config)
        finally:
            self._record(kind, before)

    def _stream(self, prompt, stop, config) -> Iterator[Chunk]:  # noqa: ANN001
        kind, before = self._metered(prompt)
        try:
            yield from super()._stream(prompt, stop, config)
        finally:
            self._record(kind, before)


def _offers_tools(prompt: object) -> bool:
    """The request describes tools: OpenAI `tools` (tool_format "server") or our Hermes block in the system turn."""
    if getattr(prompt, "tools", None):
        return True
    return isinstance(prompt, list) and any(m.role == "system" and "<tools>" in (m.content or "") for m in prompt)


def episode(base_url: str, model: str, tool_format: str, steps: int) -> list[tuple[str, float, float]]:
    """(kind, queried, hit) of each request of one episode of at least `steps` model turns."""
    llm = _MeteredLLM(model, base_url=base_url, timeout=600)
    history: list[Message] = []
    done = 0
    try:
        with Agent(llm, [add], tool_format=tool_format, config=GenerationConfig(temperature=0.0, max_tokens=96),
                   max_steps=3) as agent:
            for question in QUESTIONS:
                first = len(llm.rows)
                result = agent.run_result(question, history=history)
                turns = sum(m.role == "assistant" for m in result.messages[len(history):])
                history = result.messages
                done += turns
                rows = llm.rows[first:]
                print(f"  {tool_format}: {question!r}: {turns} model turn(s), {result.usage.prompt_tokens} prompt "
                      f"tokens; per request (kind, hit of queried): "
                      f"{', '.join(f'{k} {h:.0f}/{q:.0f}' for k, q, h in rows)}", flush=True)
                if done >= steps:
                    break
    finally:
        llm.close()
    return llm.rows


def local_episode(model: Path, steps: int) -> list[tuple[str, float, float]]:
    """The same episode on our embedded engine (`--backend transformers`, tool_format "auto": the checkpoint's
    template renders the tools): (kind, prompt tokens, tokens its prefix cache reused) per model turn, from the
    backend's own usage (`cached_tokens`). It keeps one sequence's cache, the last request's."""
    from qwen_agent.llm import get_llm

    rows: list[tuple[str, float, float]] = []
    history: list[Message] = []
    done = 0
    with get_llm("transformers", model=str(model)) as llm, \
            Agent(llm, [add], config=GenerationConfig(temperature=0.0, max_tokens=96), max_steps=3) as agent:
        for question in QUESTIONS:
            first = len(rows)
            result = agent.run_result(question, history=history)
            history = result.messages
            kind = "tools"
            for step in result.steps:
                if step.kind == "notice" and step.decision == "answer_turn":
                    kind = "no tools"
                if step.kind == "turn" and step.usage is not None:
                    rows.append((kind, step.usage.prompt_tokens, step.usage.cached_tokens))
                    done += 1
            print(f"  local: {question!r}: {', '.join(f'{k} {h:.0f}/{q:.0f}' for k, q, h in rows[first:])}", flush=True)
            if done >= steps:
                break
    return rows


def _prime(base_url: str, model: str, tool_format: str) -> None:
    """Leave only the shared head of every prompt (system turn and tool descriptions) in the cache, as on a
    server whose other agents offer the same tools: one unrelated question, one token of answer."""
    llm = OpenAICompatLLM(model, base_url=base_url, timeout=600)
    try:
        with Agent(llm, [add], tool_format=tool_format, config=GenerationConfig(temperature=0.0, max_tokens=1),
                   max_steps=1) as agent:
            agent.run_result("Hello.")
    finally:
        llm.close()


def _summary(rows: list[tuple[str, float, float]], cold: bool) -> dict[str, object]:
    queried, hit = sum(r[1] for r in rows), sum(r[2] for r in rows)
    by_kind = {}
    for kind in ("tools", "no tools"):
        q, h = sum(r[1] for r in rows if r[0] == kind), sum(r[2] for r in rows if r[0] == kind)
        by_kind[kind] = {"requests": sum(r[0] == kind for r in rows), "queried": q, "hit": h, "missed": q - h}
    return {"requests": len(rows), "queried": queried, "hit": hit, "hit_rate": hit / queried if queried else 0.0,
            "by_kind": by_kind, "cold": cold, "load": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", help="a running vLLM (started with --enable-prefix-caching)")
    ap.add_argument("--served-model", default=SERVED_MODEL)
    ap.add_argument("--steps", type=int, default=5, help="model turns per episode (whole questions)")
    ap.add_argument("--formats", default="auto,server")
    ap.add_argument("--starts", default="cold,warm",
                    help="cold: an empty cache; warm: the tool descriptions already cached (a server shared by "
                         "agents with the same tools); both by default")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--local", type=Path, nargs="?", const=Path(), metavar="GGUF",
                    help="measure our embedded engine instead (default: the small real Qwen), no vLLM")
    args = ap.parse_args(argv)
    if args.local is not None:
        from qwen_agent.model_fetch import fetch_gguf
        from qwen_agent.settings import Settings

        model = args.local if args.local != Path() else fetch_gguf(Settings.from_env().cache_dir / "models")
        summary = _summary(local_episode(model, args.steps), cold=True)
        print(f"local: {summary['hit']:.0f} of {summary['queried']:.0f} prompt tokens reused = "
              f"{summary['hit_rate']:.1%}; by kind {summary['by_kind']}", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"local": summary}, indent=1))
        return 0
    server = None
    if args.base_url is None:
        server = VLLMServer(small_qwen_folder(), Path(os.environ.get("TMPDIR", "/tmp")) / "vllm-prefix.log",
                            extra_args=("--enable-prompt-tokens-details",))
        server.start()
        print(f"vLLM ready after {server.startup_seconds:.0f} s", flush=True)
    base_url = args.base_url or server.base_url
    out = {}
    try:
        for fmt, start in [(f, s) for f in args.formats.split(",") for s in args.starts.split(",")]:
            cold = _reset(base_url.removesuffix("/v1"))
            if start == "warm":
                _prime(base_url, args.served_model, fmt)
            how = {"cold": "empty cache", "warm": "cache holding only the system turn and tool descriptions"}[start]
            print(f"{fmt}: {how if cold else 'cache as the earlier formats left it'}", flush=True)
            summary = _summary(episode(base_url, args.served_model, fmt, args.steps), cold)
            out[f"{fmt} {start}"] = summary
            tools, answer = summary["by_kind"]["tools"], summary["by_kind"]["no tools"]
            print(f"{fmt} ({start}): {summary['hit']:.0f} of {summary['queried']:.0f} prompt tokens from vLLM's prefix cache = "
                  f"{summary['hit_rate']:.1%} over {summary['requests']} requests; missed {tools['missed']:.0f} in "
                  f"{tools['requests']} turn(s) with tools, {answer['missed']:.0f} in {answer['requests']} without "
                  f"(answer turns) (load avg {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        if server is not None:
            server.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
