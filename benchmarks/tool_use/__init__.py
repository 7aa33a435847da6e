"""The Chinese tool-use benchmark (ReAct), scored as Qwen's `eval/evaluate_plugin.py` scored it.

    python -m benchmarks.tool_use --model Qwen/Qwen-7B-Chat                      # local checkpoint
    python -m benchmarks.tool_use --model qwen --base-url http://127.0.0.1:8000/v1 --vocab qwen.tiktoken
    python -m benchmarks.tool_use --replay runs/tool_use/old.jsonl --vocab qwen.tiktoken
    python -m benchmarks.tool_use --positive exam_plugin_v20231206_react_positive.jsonl \\
        --negative exam_plugin_v20231206_react_negative.jsonl --model ...

Metrics (see docs/benchmarks.md for the details and the reasons):
- tool selection: share of positive cases whose output contains "\\nAction: " and whose Action equals the
  reference's (trimmed, case-insensitive);
- tool input: Rouge-L F1 of the json5-normalised Action Inputs over Qwen-tokenizer token strings, averaged
  over ALL positive cases (an unparsable input is the empty string and scores 0);
- false positive error: share of negative cases whose output contains "\\nAction: ".
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import json5

from benchmarks import _harness as h
from benchmarks.published import SOURCE, TOOL_USE_20231206
from qwen_agent import LLM, GenerationConfig, Message
from qwen_agent.errors import ConfigurationError
from qwen_agent.llm.tokenizer import BUNDLED_VOCAB, QwenTokenizer
from qwen_agent.prompts.react import STOP_WORDS

DATA_DIR = Path(__file__).parents[1] / "data" / "tool_use"
SYSTEM = "You are a helpful assistant."  # the system turn of Qwen-Chat's `model.chat`, which the published run used
ACTION_MARK = "\nAction: "


# --- scoring (pure functions) -----------------------------------------------------------------------------
def _between(text: str, start: str, end: str) -> str:
    """The text after the first `start` up to the first `end`, trimmed.

    Slicing follows the published script exactly, including its handling of a missing marker (`str.find`
    gives -1), so scores stay comparable with the published table.
    """
    return text[text.find(start) + len(start) : text.find(end)].strip()


def react_fields(text: str) -> tuple[str, str]:
    """(Action, normalised Action Input) of a ReAct text, the way the published evaluation reads them."""
    text = text + "\n"
    action = _between(text, "Action:", "Action Input:")
    return action, normalise_action_input(_between(text, "Action Input:", "Observation:"))


def normalise_action_input(raw: str) -> str:
    """json5-parse and re-serialise (sorted keys, no ASCII escaping); unparsable input becomes ""."""
    try:
        return json.dumps(json5.loads(raw), ensure_ascii=False, sort_keys=True)
    except (ValueError, TypeError, RecursionError):
        return ""


def rouge_tokens(tokenizer: QwenTokenizer, text: str) -> list[str]:
    """The units Rouge-L compares: Qwen token strings joined by spaces, then split on whitespace.

    As published: NFC-normalised text, every token's bytes decoded as UTF-8 with U+FFFD for partial
    characters, joined with " " and split again on whitespace (so whitespace-only tokens vanish).
    """
    pieces = tokenizer.tokenize(unicodedata.normalize("NFC", text))
    return " ".join(p.decode("utf-8", errors="replace") for p in pieces).split()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, two rows)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l_f1(reference: Sequence[str], candidate: Sequence[str]) -> float:
    """Rouge-L F1 (beta = 1). Zero when either side is empty, as in the `rouge_score` package."""
    if not reference or not candidate:
        return 0.0
    lcs = lcs_length(reference, candidate)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def score_case(kind: str, gen: str, reference: str, tokenizer: QwenTokenizer) -> dict[str, Any]:
    """Per-case scores: positive -> action_right and rouge_l; negative -> false_positive."""
    if kind == "negative":
        return {"false_positive": ACTION_MARK in gen}
    gen_action, gen_input = react_fields(gen)
    ref_action, ref_input = react_fields(reference)
    right = ACTION_MARK in gen and gen_action.lower() == ref_action.lower()
    rouge = rouge_l_f1(rouge_tokens(tokenizer, ref_input), rouge_tokens(tokenizer, gen_input))
    return {"action_right": right, "rouge_l": rouge}


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The three published metrics over stored case records (None where there are no cases)."""
    pos = [r for r in records if r["kind"] == "positive"]
    neg = [r for r in records if r["kind"] == "negative"]
    return {
        "n_positive": len(pos),
        "n_negative": len(neg),
        "tool_selection": sum(r["action_right"] for r in pos) / len(pos) if pos else None,
        "tool_input_rouge_l": sum(r["rouge_l"] for r in pos) / len(pos) if pos else None,
        "false_positive_error": sum(r["false_positive"] for r in neg) / len(neg) if neg else None,
    }


# --- cases ------------------------------------------------------------------------------------------------
def load_cases(path: Path, kind: str) -> list[dict[str, Any]]:
    """Cases of one file in the published format (`prompt`, `response`); ids from `id` or the line order.

    A negative case needs no `response`: the published scoring of negatives reads only the generation
    (`evaluate_plugin.py` `main()`, lines ~250-258)."""
    cases = []
    for i, row in enumerate(h.read_jsonl(path), 1):
        response = row.get("response", "" if kind == "negative" else None)
        if not isinstance(row.get("prompt"), str) or not isinstance(response, str):
            needs = "'prompt'" if kind == "negative" else "'prompt' and 'response'"
            raise ConfigurationError(f"{path}: case {i} needs string fields {needs}")
        case_id = f"{kind}:{row.get('id', i)}"
        cases.append({"id": case_id, "kind": kind, "prompt": row["prompt"], "response": response,
                      "prompt_sha": _sha(row["prompt"])})
    return cases


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_replay(paths: Sequence[Path]) -> tuple[dict[str, str], dict[str, str]]:
    """Recorded generations by case id and by prompt hash. Accepts our results files and the published
    cache files (`gen` a list holding one text)."""
    by_id: dict[str, str] = {}
    by_prompt: dict[str, str] = {}
    for path in paths:
        for i, row in enumerate(h.read_jsonl(path), 1):
            gen = row.get("gen")
            if isinstance(gen, list) and gen:
                gen = gen[0]
            if not isinstance(gen, str):
                raise ConfigurationError(f"{path}: record {i} has no generated text in 'gen'")
            if "id" in row:
                by_id[str(row["id"])] = gen
            if isinstance(row.get("prompt"), str):
                by_prompt[_sha(row["prompt"])] = gen
    return by_id, by_prompt


def check_resume(store: h.ResultStore, cases: Sequence[dict[str, Any]]) -> None:
    """Refuse to resume into an output file written for different prompts."""
    for case in cases:
        old = store.records.get(case["id"])
        if old is not None and old.get("prompt_sha") != case["prompt_sha"]:
            raise ConfigurationError(
                f"{store.path} holds results for a different data set (case {case['id']} differs); "
                "choose another --output")


def make_worker(tokenizer: QwenTokenizer, llm: LLM | None, config: GenerationConfig,
                replay: tuple[dict[str, str], dict[str, str]] | None, lock: threading.Lock | None = None,
                stop_at_observation: bool = False):
    """The function that turns one case into its stored record. `lock` serialises model calls.

    The published run (`eval/evaluate_plugin.py` `react_inference()`, lines ~200-215) called Qwen-1's
    `model.chat` with no stop words, so the model wrote on past `Observation:`; `stop_at_observation` (ours,
    `--stop-at-observation`) stops there, which changes the scores of malformed outputs (an Action without an
    Action Input reads its input from a later turn; an `Action:` after a model-written Observation counts).
    """
    stop = STOP_WORDS if stop_at_observation else ()

    def generate(prompt: str) -> str:
        if llm is None:
            raise ConfigurationError("no model and no recorded generation for this case")
        messages = [Message.system(SYSTEM), Message.user(prompt)]
        with lock or contextlib.nullcontext():
            return llm.generate(messages, stop=stop, config=config).text

    def work(case: dict[str, Any]) -> dict[str, Any]:
        if replay is not None:
            gen = replay[0].get(case["id"], replay[1].get(case["prompt_sha"]))
        else:
            gen = generate(case["prompt"])
        record = {k: case[k] for k in ("id", "kind", "prompt_sha")}
        record["gen"] = gen
        record.update(score_case(case["kind"], gen, case["response"], tokenizer))
        return record

    return work


# --- report -----------------------------------------------------------------------------------------------
HEADER = ["Model", "Tool Selection (Acc.↑)", "Tool Input (Rouge-L↑)", "False Positive Error↓"]


def report(label: str, metrics: dict[str, Any]) -> str:
    """The published table layout: this run first, then the published rows."""
    def fmt(sel: float | None, rouge: float | None, fp: float | None) -> list[str | None]:
        return [None if sel is None else f"{sel:.1f}%", None if rouge is None else f"{rouge:.3f}",
                None if fp is None else f"{fp:.1f}%"]

    m = metrics
    ours = fmt(*(None if v is None else v * k for v, k in (
        (m["tool_selection"], 100), (m["tool_input_rouge_l"], 1), (m["false_positive_error"], 100))))
    rows = [[f"**{label}** (this run)", *ours]]
    rows += [[name, *fmt(*vals)] for name, vals in TOOL_USE_20231206.items()]
    note = (f"{m['n_positive']} positive and {m['n_negative']} negative cases. "
            f"Published rows: {SOURCE}, on the published 20231206 data set.")
    return "## Chinese tool-use benchmark (ReAct)\n\n" + h.markdown_table(HEADER, rows) + "\n\n" + note


def chart(path: Path, label: str, metrics: dict[str, Any]) -> Path:
    names = ["Tool selection (%)", "Tool input (Rouge-L x100)", "False positive (%)"]
    m = metrics
    ours = [None if v is None else 100 * v for v in
            (m["tool_selection"], m["tool_input_rouge_l"], m["false_positive_error"])]
    rows = [(label, ours)] + [(n, [s, 100 * r, f]) for n, (s, r, f) in TOOL_USE_20231206.items()]
    return h.bar_chart(path, "Tool use (ReAct): this run vs published", names, rows, highlight=label)


# --- command line -----------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tool_use", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--positive", type=Path, default=DATA_DIR / "positive.jsonl",
                   help="positive cases (a tool should be called); default: the bundled sample")
    p.add_argument("--negative", type=Path, default=DATA_DIR / "negative.jsonl",
                   help="negative cases (no tool should be called); default: the bundled sample")
    p.add_argument("--vocab", type=Path,
                   help="qwen.tiktoken (default: the one in a local Qwen-1 --model dir, else the package's copy)")
    p.add_argument("--limit", type=int, help="only the first N cases of each file")
    p.add_argument("--stop-at-observation", action="store_true",
                   help="ours: stop generating at `Observation:` (faster; the published run had no stop, which is "
                   "the default)")
    p.add_argument("--oracle", action="store_true",
                   help="score the reference responses as if a model wrote them (self-check: 100%%, 1.000, 0%%)")
    h.add_model_args(p)
    return p.parse_args(argv)


def find_vocab(args: argparse.Namespace) -> QwenTokenizer:
    """The Qwen tokenizer for Rouge-L: --vocab, qwen.tiktoken inside a local --model checkpoint, or the Qwen-1
    vocabulary bundled with the package (the original scores count Qwen-1 tokens, whatever model is tested)."""
    if args.vocab is not None:
        return QwenTokenizer.from_pretrained(args.vocab)
    if args.model and (Path(args.model) / "qwen.tiktoken").is_file():
        return QwenTokenizer.from_pretrained(Path(args.model))
    print(f"note: Rouge-L counts Qwen-1 tokens with the bundled vocabulary ({BUNDLED_VOCAB})", file=sys.stderr)
    return QwenTokenizer.bundled()


def run(args: argparse.Namespace, llm: LLM | None = None) -> dict[str, Any]:
    """Generate (or replay), store, score and report; returns the summary written to the JSON report.

    `llm` overrides the model the options name (for use from Python)."""
    tokenizer = find_vocab(args)
    cases = load_cases(args.positive, "positive")[: args.limit] + load_cases(args.negative, "negative")[: args.limit]
    if args.oracle:
        replay = ({c["id"]: c["response"] for c in cases}, {})
    else:
        replay = load_replay(args.replay) if args.replay else None
    if replay is not None:
        missing = [c["id"] for c in cases if c["id"] not in replay[0] and c["prompt_sha"] not in replay[1]]
        if missing:
            raise ConfigurationError(f"--replay has no generation for {len(missing)} cases, e.g. {missing[:3]}")
    label = h.run_label(args)
    output = args.output or Path("runs") / "tool_use" / f"{label}.jsonl"
    owned = replay is None and llm is None
    if owned:
        llm = h.make_llm(args)
    try:
        with h.ResultStore(output) as store:
            check_resume(store, cases)
            lock = h.generation_lock(args)
            work = make_worker(tokenizer, llm, h.generation_config(args, llm), replay, lock, args.stop_at_observation)
            h.run_cases(cases, work, store, workers=args.workers, desc="tool_use", progress=not args.no_progress)
            records = [store.records[c["id"]] for c in cases]
    finally:
        if owned and llm is not None:
            llm.close()
    metrics = summarise(records)
    markdown = report(label, metrics)
    data = {"benchmark": "tool_use", "run": label, "metrics": metrics, "results": str(output),
            "published": {k: dict(zip(HEADER[1:], v, strict=True)) for k, v in TOOL_USE_20231206.items()}}
    h.write_report(output, markdown, data, lambda path: chart(path, label, metrics))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    return h.cli_main(parse_args, run, argv)

