"""Throughput of the local backend on a real checkpoint, per precision (`python -m benchmarks.throughput --model PATH`).

PATH is a `.gguf` file or a checkpoint folder. Settings: float32 (the CPU default before bf16 detection),
bfloat16, int8 weights (`quantize="int8"`, torchao weight-only, bf16 compute) and, for comparison, torchao's
dynamic int8 activations + int8 weights. All settings are loaded in one process and measured interleaved
(repeat by repeat), so load from other work on a shared machine hits each alike; the figures to compare are
the ratios. Printed:
- decode tokens/s at batch 1 (ours and plain `model.generate`), and time to first token of a ~1k-token prompt;
- peak memory (max RSS) of a fresh process that loads the setting and generates a few tokens;
- prefilled tokens over a 5-step Hermes tool episode (the checkpoint's chat template with tools) with and
  without prefix reuse, and for the next question with the same tools;
- tool-call agreement: greedy answers to tool prompts through the chat template, per setting, compared with
  float32's call and with the expected tool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qwen_agent.llm import get_llm
from qwen_agent.schema import GenerationConfig

TOOLS = [
    {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {key: {"type": kind, "description": about} for key, kind, about in params},
        "required": [p[0] for p in params]}}}
    for name, desc, params in [
        ("get_weather", "Current weather for a city.", [("city", "string", "city name, e.g. Paris")]),
        ("convert_currency", "Convert an amount between currencies.", [
            ("amount", "number", "the amount"), ("from_currency", "string", "ISO code, e.g. USD"),
            ("to_currency", "string", "ISO code, e.g. EUR")]),
        ("search_flights", "Find flights between two cities on a date.", [
            ("origin", "string", "departure city"), ("destination", "string", "arrival city"),
            ("date", "string", "YYYY-MM-DD")]),
        ("run_python", "Run Python code and return what it prints.", [("code", "string", "the code")]),
    ]
]  # fmt: skip
QUESTIONS = [
    ("What's the weather in Paris right now?", "get_weather"),
    ("How much is 250 US dollars in euros?", "convert_currency"),
    ("Find me a flight from Berlin to Rome on 2025-03-14.", "search_flights"),
    ("北京今天天气怎么样？", "get_weather"),
    ("Convert 1000 JPY to GBP please.", "convert_currency"),
    ("Use Python to compute 2**100.", "run_python"),
    ("Is it raining in Tokyo?", "get_weather"),
    ("Flights from New York to London on 2025-07-01?", "search_flights"),
    ("What is the sum of the squares of 1 to 50? Compute it with code.", "run_python"),
    ("把100欧元换成人民币是多少？", "convert_currency"),
]
PEAK_SCRIPT = """
import resource, sys
from qwen_agent.llm import get_llm
from qwen_agent.schema import GenerationConfig
llm = get_llm("transformers", model=sys.argv[1], dtype=sys.argv[2], quantize=sys.argv[3] or None,
              gguf_cache_dir=sys.argv[4], config=GenerationConfig(max_tokens=8))
llm.generate("def fib(n):")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def load_settings(model: str, cache: Path) -> dict[str, Any]:
    """label -> backend (prefix reuse off, so every timed call prefills its whole prompt)."""
    def load(dtype: str, quantize: str | None = None) -> Any:
        return get_llm("transformers", model=model, dtype=dtype, quantize=quantize, gguf_cache_dir=cache,
                       reuse_prefix=False)

    settings = {"float32": load("float32"), "bfloat16": load("bfloat16"), "int8 (ours)": load("bfloat16", "int8")}
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    dynamic = load("float32")
    quantize_(dynamic.model, Int8DynamicActivationInt8WeightConfig())
    settings["int8 dyn. act. (fp32)"] = dynamic
    return settings


def peak_rss_mb(model: str, dtype: str, quantize: str, cache: Path) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, model, dtype, quantize, str(cache)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) / 1024


def chat_text(llm: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = TOOLS) -> str:
    return llm.codec.tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)


def long_prompt(llm: Any, tokens: int = 1000) -> str:
    """A chat prompt with the tools, padded with a long system note to about `tokens` tokens."""
    note = " ".join(f"Rule {i}: answer briefly and call a tool when the question needs live data." for i in range(200))
    ids = llm.codec.tokenizer(note)["input_ids"]
    head = chat_text(llm, [{"role": "user", "content": "hi"}])
    pad = llm.codec.tokenizer.decode(ids[: max(tokens - len(llm.codec.encode(head)), 0)])
    return chat_text(llm, [{"role": "system", "content": pad}, {"role": "user", "content": QUESTIONS[0][0]}])


def _runs(llm: Any, prompt: str, ttft_prompt: str, new: int) -> dict[str, Any]:
    ids = torch.tensor([llm.codec.encode(prompt)])
    long_ids = torch.tensor([llm.codec.encode(ttft_prompt)])
    return {
        "ours1": lambda: llm.generate(prompt, config=GenerationConfig(max_tokens=1)),
        "oursN": lambda: llm.generate(prompt, config=GenerationConfig(max_tokens=new)),
        "plain1": lambda: llm.model.generate(ids, max_new_tokens=1, do_sample=False),
        "plainN": lambda: llm.model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False),
        "ttft": lambda: llm.generate(ttft_prompt, config=GenerationConfig(max_tokens=1)),
        "plain_ttft": lambda: llm.model.generate(long_ids, max_new_tokens=1, do_sample=False),
    }


def timings(settings: dict[str, Any], prompt: str, ttft_prompt: str, new: int, repeats: int) -> dict[str, dict]:
    """Best-of-`repeats` seconds, interleaved across settings: ours and plain generate, 1 and `new` tokens,
    and the long prompt's first token."""
    best: dict[str, dict[str, float]] = {k: {} for k in settings}
    runs = {label: _runs(llm, prompt, ttft_prompt, new) for label, llm in settings.items()}
    for _ in range(repeats + 1):  # the first round warms up
        for label in settings:
            for key, run in runs[label].items():
                t = time.perf_counter()
                out = run()
                seconds = time.perf_counter() - t
                best[label][key] = min(best[label].get(key, float("inf")), seconds)
                if key == "oursN":
                    best[label]["oursN_tokens"] = out.usage.completion_tokens
    return best


def hermes_episode(llm: Any, question: str, steps: int = 5) -> tuple[int, int, int]:
    """A 5-step tool episode through the chat template: each step appends the model's reply and a tool
    result, and the whole conversation is rendered again (as an agent does). Returns (prompt tokens summed,
    prefilled tokens summed, the floor): the floor no cache can beat is the first prompt plus, at each later
    step, the tokens of the text the template put after the model's reply (the end of its turn, the tool
    result, the next turn's header), encoded on their own."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    total = prefilled = floor = 0
    seen = ""  # the previous prompt and the reply to it: what a cache can hold
    for i in range(steps):
        text = chat_text(llm, messages)
        floor += len(llm.codec.encode(text[len(os.path.commonprefix([seen, text])):]))
        out = llm.generate(text, config=GenerationConfig(max_tokens=40))
        total += out.usage.prompt_tokens
        prefilled += out.usage.prefilled_tokens
        seen = text + out.text
        messages += [{"role": "assistant", "content": out.text},
                     {"role": "tool", "content": json.dumps({"step": i, "result": f"{20 + i} degrees, clear"})}]
    return total, prefilled, floor


def print_reuse(settings: dict[str, Any]) -> None:
    """Prefilled tokens of the 5-step Hermes episode with prefix reuse, per setting, against the prompt tokens
    (what is prefilled without reuse) and the floor."""
    for label, llm in settings.items():
        llm.reuse_prefix = True
        total, cold, floor = hermes_episode(llm, QUESTIONS[0][0])
        total_next, warm, _ = hermes_episode(llm, QUESTIONS[6][0])
        llm.reuse_prefix = False
        print(f"5-step Hermes episode, {label}: prefilled with reuse / prompt tokens (= prefilled without): first "
              f"question {cold}/{total} ({1 - cold / total:.1%} fewer; floor {floor}, {1 - floor / total:.1%} "
              f"fewer), next question with the same tools {warm}/{total_next} ({1 - warm / total_next:.1%} fewer)")
    print()


def first_call(text: str) -> tuple[str, Any] | None:
    """The first JSON object in `text` that names a tool: (name, arguments)."""
    decoder = json.JSONDecoder()
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            obj, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(obj, dict) and "name" in obj:
            return obj["name"], obj.get("arguments", obj.get("parameters"))
    return None


def tool_calls(llm: Any) -> list[tuple[str, Any] | None]:
    config = GenerationConfig(max_tokens=80)
    return [first_call(llm.generate(chat_text(llm, [{"role": "user", "content": q}]), config=config).text)
            for q, _ in QUESTIONS]


def run(args: Any) -> None:
    model = str(Path(args.model).expanduser())
    cache = Path(args.cache_dir).expanduser()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reuse_only:
        print_reuse({"bfloat16": get_llm("transformers", model=model, dtype="bfloat16", gguf_cache_dir=cache)})
        return
    print(f"model: {model}; {torch.get_num_threads()} threads; CPU bf16: "
          f"{__import__('qwen_agent.llm.local_setup', fromlist=['x']).probe_machine().cpu_bf16}")
    peaks = {label: peak_rss_mb(model, dtype, quant, cache) for label, dtype, quant in
             [("float32", "float32", ""), ("bfloat16", "bfloat16", ""), ("int8 (ours)", "bfloat16", "int8")]}
    settings = load_settings(model, cache)
    first = settings["float32"]
    prompt = chat_text(first, [{"role": "user", "content": "Write a long Python module with ten small functions."}])
    ttft_prompt = long_prompt(first)
    print(f"decode: {args.tokens} new tokens after a {len(first.codec.encode(prompt))}-token prompt; time to "
          f"first token: {len(first.codec.encode(ttft_prompt))}-token prompt; best of {args.repeats}, interleaved\n")
    best = timings(settings, prompt, ttft_prompt, args.tokens, args.repeats)
    base = None
    print("| setting | decode tok/s, ours | plain generate | ours vs float32 | TTFT ours (s) | TTFT plain (s) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, b in best.items():
        ours = (b["oursN_tokens"] - 1) / max(b["oursN"] - b["ours1"], 1e-9)
        plain = (args.tokens - 1) / max(b["plainN"] - b["plain1"], 1e-9)
        base = base or ours
        peak = f"{peaks[label]:.0f}" if label in peaks else "-"
        print(f"| {label} | {ours:.1f} | {plain:.1f} | {ours / base:.2f}x | {b['ttft']:.2f} | {b['plain_ttft']:.2f} | {peak} |")
    print()
    print_reuse({label: settings[label] for label in ("bfloat16", "int8 (ours)")})
    reference = tool_calls(first)
    expected = [name for _, name in QUESTIONS]
    for label, llm in settings.items():
        calls = reference if llm is first else tool_calls(llm)
        agree = sum(c == r for c, r in zip(calls, reference, strict=True))
        right = sum(c is not None and c[0] == e for c, e in zip(calls, expected, strict=True))
        print(f"tool calls, {label}: {agree}/{len(QUESTIONS)} identical to float32's; right tool {right}/{len(QUESTIONS)}")
        if args.verbose:
            for c in calls:
                print("   ", c)
