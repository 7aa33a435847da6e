"""Record raw outputs of the real Qwen2.5-Coder-0.5B given tools through its own chat template (not a test).

The model reads each conversation as `tokenizer.apply_chat_template(messages, tools=[...])` renders it (the
Hermes format of its template), decodes greedily, and the raw text is written with the conversation to a JSONL
file. Those raw texts, hand-checked, become the `"source": "qwen2.5-coder-0.5b"` cases of corpus/hermes.jsonl.

    python tests/formats/record_real_outputs.py --out /tmp/hermes_recorded.jsonl [--dtype float32]

Needs the `local` extra and the `gguf` package; the model comes from `qwen-agent fetch-model`'s cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = json.loads((HERE / "corpus" / "tools.json").read_text())

WEATHER_CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
CALC_CALL = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "23*47+12"}}}


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _after_result(question: str, call: dict, result: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": result}]


# (id, tool names, conversation)
PROMPTS: list[tuple[str, list[str], list[dict]]] = [
    ("weather_en", ["get_weather", "convert_currency"], _user("What's the weather in Paris?")),
    ("weather_unit", ["get_weather"], _user("Is it raining in Tokyo right now? Give me the temperature in celsius.")),
    ("weather_zh", ["get_weather", "convert_currency"], _user("北京今天天气怎么样？")),
    ("currency_en", ["get_weather", "convert_currency"], _user("Convert 100 US dollars to euros.")),
    ("currency_zh", ["convert_currency"], _user("把500人民币换成日元。")),
    ("currency_decimal", ["convert_currency"], _user("How much is 1234.5 JPY in USD?")),
    ("flights_en", ["search_flights", "get_weather"], _user("Find flights from London to New York on 2025-03-14 for 2 people.")),
    ("flights_zh", ["search_flights"], _user("帮我查一下2025年5月1日从上海到北京的航班。")),
    ("calculator", ["calculator", "get_weather"], _user("What is 23 * 47 + 12? Use the calculator.")),
    ("code_fib", ["code_interpreter"], _user("Compute the 20th Fibonacci number by running Python code.")),
    ("code_pow", ["code_interpreter"], _user("What is 2**100? Use Python.")),
    ("code_zh", ["code_interpreter"], _user("用Python计算1到100的和。")),
    ("two_weather", ["get_weather"], _user("What's the weather in Berlin and in Madrid?")),
    ("two_currency", ["convert_currency"], _user("Convert 50 EUR to USD, and also 50 EUR to GBP.")),
    ("two_tools", ["get_weather", "convert_currency"], _user("What's the weather in Rome? Also convert 20 USD to EUR.")),
    ("no_tool_hello", ["get_weather", "convert_currency"], _user("Hello! Who are you?")),
    ("no_tool_haiku", ["get_weather"], _user("Write a haiku about autumn.")),
    ("no_tool_capital", ["get_weather", "search_flights"], _user("What is the capital of France?")),
    ("no_tool_zh", ["get_weather"], _user("你好，请介绍一下你自己。")),
    ("no_tool_code", ["get_weather"], _user("Explain Python list comprehensions with a short example.")),
    ("no_tool_json_doc", ["get_weather"], _user("Give me a JSON object describing a cat with a name and an age.")),
    ("no_args", ["list_files", "get_weather"], _user("List the files in the working directory.")),
    ("alarm_types", ["set_alarm"], _user("Set an alarm for 7:30 on Monday and Friday, repeating.")),
    ("followup_weather", ["get_weather"],
     _after_result("What's the weather in Paris?", WEATHER_CALL, '{"temperature": 18, "condition": "cloudy"}')),
    ("followup_calc", ["calculator"],
     _after_result("What is 23 * 47 + 12? Use the calculator.", CALC_CALL, "1093")),
    ("followup_zh", ["get_weather"],
     _after_result("巴黎天气怎么样？", WEATHER_CALL, '{"temperature": 18, "condition": "多云"}')),
]


def load(path: Path, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=getattr(torch, dtype))
    return tok, model.eval()


def generate(tok, model, conversations: list[tuple[list[dict], list[dict]]], max_new_tokens: int) -> list[str]:
    """Greedy outputs for (messages, tools) pairs, decoded as one left-padded batch (much faster on a CPU)."""
    import torch

    prompts = [tok.apply_chat_template(m, tools=t, add_generation_prompt=True, tokenize=False) for m, t in conversations]
    tok.padding_side = "left"
    batch = tok(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    texts = []
    for row in out[:, batch.input_ids.shape[1]:]:
        text = tok.decode(row, skip_special_tokens=False)
        for end in ("<|im_end|>", "<|endoftext|>"):
            text = text.split(end)[0]
        texts.append(text)
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dtype", default="float32", choices=["bfloat16", "float32"])
    ap.add_argument("--max-new-tokens", type=int, default=120)
    ap.add_argument("--only", nargs="*", help="record only these prompt ids")
    ap.add_argument("--batch", type=int, default=8, help="prompts decoded together")
    args = ap.parse_args(argv)

    from qwen_agent.model_fetch import fetch_gguf
    from qwen_agent.settings import Settings

    tok, model = load(fetch_gguf(Settings.from_env().cache_dir / "models"), args.dtype)
    todo = [p for p in PROMPTS if not args.only or p[0] in args.only]
    with args.out.open("a", encoding="utf-8") as f:
        for i in range(0, len(todo), args.batch):
            chunk = todo[i:i + args.batch]
            tools = [[{"type": "function", "function": TOOLS[n]} for n in names] for _, names, _ in chunk]
            t0 = time.monotonic()
            texts = generate(tok, model, [(m, t) for (_, _, m), t in zip(chunk, tools, strict=True)],
                             args.max_new_tokens)
            for (pid, names, messages), text in zip(chunk, texts, strict=True):
                record = {"id": pid, "tools": names, "messages": messages, "text": text, "dtype": args.dtype,
                          "batch_seconds": round(time.monotonic() - t0, 1)}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                print(pid, repr(text), file=sys.stderr)
            f.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
