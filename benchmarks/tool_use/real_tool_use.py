"""Tool use of a real small Qwen in each tool-call format, episode by episode: does the agent call exactly the
tools the question needs, once each, and end with an answer that uses what they returned?

    python -m benchmarks.real_tool_use --model "$(qwen-agent fetch-model [--size 1.5b])" [--formats auto,react]
    python -m benchmarks.real_tool_use --base-url http://127.0.0.1:8000/v1 --model <served name>

Tasks (`benchmarks/data/real_tool_use.jsonl`, written for this benchmark): single calls, two calls, Chinese
questions, numeric arguments, and questions that need no tool; a third of them (`"held_out": true`, every third
line, marked before any run) are for reporting only, never for tuning. The tools are small deterministic
functions (weather, calculator, currency, population tables), so every answer can be checked, and each counts
its own executions: a call the agent declines to run is not an execution. Each task runs as one agent episode
(greedy decoding, at most `--max-steps` model turns, 3 by default) per format. The headline, per format:

- exact episodes: every expected call executed, no other execution (an identical repeat is executed again,
  so it counts against), and a final answer that uses the result (numbers compared as numbers); for a
  no-tool question: no execution, and an answer. A call written as the answer (`{"name": "cat_joke",
  "arguments": ...}`, a tool nobody offered) is no answer. Reported over all tasks and over the held-out
  share apart.
- model turns, tool executions and seconds per episode.

Beside it, the first turn and the older episode columns:

- right (first turn): exactly the expected calls (any order), arguments matched by value (numbers as numbers, a
  calculator expression by what it evaluates to, names by any listed spelling, case-insensitive); for a no-tool
  question, no call at all.
- false positives: no-tool questions where the model called a tool anyway.
- right over the episode: every expected call made in some turn, and no other call (repeats tolerated).
- two calls in one turn / over turns: parallel tasks done in the first turn, and those done only across turns.
- answered with the result: tool tasks whose episode ends with an answer holding the tool's result.

Each record names how an inexact episode failed (`failures`): `repeat` (an execution identical to an earlier
one), `vary` (an asked-for tool run with other arguments), `wander` (a tool nobody asked for), `missed` (an
expected call never run), `no answer` (no final answer, or a call written as the answer), `answer without result` (an
answer that does not use it).

Results go to a resumable jsonl (one line per task and format); `--limit N` runs N tasks taken round-robin over
the kinds, `--max-steps 1` scores first turns only (much faster on a CPU; no episode figures then).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import operator
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from qwen_agent import Agent, EpisodePolicy, GenerationConfig, Tool, tool
from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import FORMATS
from qwen_agent.formats.json_calls import written_call

DATA = Path(__file__).parents[1] / "data" / "real_tool_use.jsonl"

WEATHER = {"paris": "14°C, light rain", "tokyo": "22°C, clear skies", "cairo": "31°C, sunny",
           "london": "11°C, overcast", "beijing": "9°C, windy", "北京": "9°C, windy",
           "shanghai": "17°C, cloudy", "上海": "17°C, cloudy"}
POPULATION = {"japan": "123.3 million", "brazil": "216.4 million", "germany": "84.5 million",
              "china": "1410 million", "中国": "1410 million", "日本": "123.3 million"}
RATES = {("USD", "EUR"): 0.92, ("USD", "GBP"): 0.79, ("GBP", "JPY"): 190.0, ("JPY", "USD"): 0.0067,
         ("CNY", "USD"): 0.138, ("RMB", "USD"): 0.138}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}


Executions = list[tuple[str, dict[str, Any]]]


def counted_tools(executed: Executions | None = None) -> list[Tool]:
    """The four tools; each appends (its name, its validated arguments) to `executed` when it runs."""
    def ran(name: str, **arguments: Any) -> None:
        if executed is not None:
            executed.append((name, arguments))

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city.

        Args:
            city: the city name, e.g. "Paris"
        """
        ran("get_weather", city=city)
        return f"{city}: {WEATHER.get(city.strip().lower(), 'no data for this city')}"

    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression exactly.

        Args:
            expression: the expression, e.g. "12 * (3 + 4)" or "2 ** 10"
        """
        ran("calculator", expression=expression)
        return _number_text(evaluate(expression))

    @tool
    def convert_currency(amount: float, from_currency: str, to_currency: str) -> str:
        """Convert an amount of money between currencies at today's rate.

        Args:
            amount: how much money
            from_currency: ISO code of the currency converted from, e.g. "USD"
            to_currency: ISO code of the currency converted to, e.g. "EUR"
        """
        ran("convert_currency", amount=amount, from_currency=from_currency, to_currency=to_currency)
        pair = (from_currency.strip().upper(), to_currency.strip().upper())
        rate = RATES.get(pair) or (1 / RATES[pair[::-1]] if pair[::-1] in RATES else None)
        if rate is None:
            return f"no rate for {pair[0]} to {pair[1]}"
        return f"{_number_text(round(amount * rate, 2))} {pair[1]}"

    @tool
    def get_population(country: str) -> str:
        """Population of a country.

        Args:
            country: the country name, e.g. "France"
        """
        ran("get_population", country=country)
        return f"{country}: {POPULATION.get(country.strip().lower(), 'no data for this country')}"

    return [get_weather, calculator, convert_currency, get_population]


TOOLS = counted_tools()  # uncounted, for a look at what the tools return
get_weather, calculator, convert_currency, get_population = TOOLS


def evaluate(expression: str) -> float:
    """An arithmetic expression's value (numbers and + - * / ** % // only); ValueError otherwise."""
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError(f"not arithmetic: {expression!r}")
    text = expression.replace("^", "**").replace("×", "*").replace(",", "")
    return ev(ast.parse(text, mode="eval").body)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- scoring -------------------------------------------------------------------------------------------------
def value_matches(expected: Any, got: Any) -> bool:
    """One argument: {"number": x} numerically, {"value": x} an expression worth x, else any listed spelling."""
    try:
        if isinstance(expected, dict) and "number" in expected:
            return abs(float(str(got).replace(",", "")) - expected["number"]) < 1e-6
        if isinstance(expected, dict) and "value" in expected:
            return abs(evaluate(str(got)) - expected["value"]) < 1e-6
    except (ValueError, TypeError, SyntaxError, ZeroDivisionError):
        return False
    return str(got).strip().lower() in {str(e).lower() for e in expected}


def call_matches(expected: dict[str, Any], name: str, args: dict[str, Any] | None) -> bool:
    if name != expected["name"] or args is None or set(args) != set(expected["arguments"]):
        return False
    return all(value_matches(v, args[k]) for k, v in expected["arguments"].items())


def calls_right(expected: Sequence[dict[str, Any]], got: Sequence[tuple[str, dict[str, Any] | None]]) -> bool:
    """Exactly the expected calls, in any order."""
    return len(expected) == len(got) and _each_expected_has_its_own_call(expected, got)


def _each_expected_has_its_own_call(expected: Sequence[dict[str, Any]],
                                    got: Sequence[tuple[str, dict[str, Any] | None]]) -> bool:
    left = list(got)
    for e in expected:
        hit = next((g for g in left if call_matches(e, *g)), None)
        if hit is None:
            return False
        left.remove(hit)
    return True


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def answer_uses_result(task: dict[str, Any], answer: str) -> bool:
    """Whether the answer holds the tool's result: an expected number as a number written in the answer (any
    thousands commas or trailing zeros: "1,048,576", "230.00"; not the digits inside another number), an
    expected phrase anywhere (case-insensitive)."""
    numbers = [float(n.rstrip(",").replace(",", "")) for n in _NUMBER.findall(answer)]

    def found(wanted: str) -> bool:
        if _NUMBER.fullmatch(wanted):
            value = float(wanted.replace(",", ""))
            return any(abs(n - value) < 1e-6 for n in numbers)
        return wanted.lower() in answer.lower()

    hits = [found(w) for w in task.get("answer_contains") or []]
    return all(hits) if task.get("all_of") else any(hits)


def right_over_episode(expected: Sequence[dict[str, Any]],
                       got: Sequence[tuple[str, dict[str, Any] | None]]) -> bool:
    """Every expected call made in some turn, and no call that is none of them. Asking again for what it
    already has (the same call, or the calculator on its own result) is slow, not wrong; a call to another
    tool, or with other arguments, is wrong."""
    if not all(any(call_matches(e, *g) for e in expected) for g in got):
        return False
    return _each_expected_has_its_own_call(expected, got)


def _same(a: tuple[str, dict[str, Any] | None], b: tuple[str, dict[str, Any] | None]) -> bool:
    return a[0] == b[0] and json.dumps(a[1], sort_keys=True) == json.dumps(b[1], sort_keys=True)


def is_answer(text: str) -> bool:
    """Text a user can read as an answer: not empty, and not a tool call written out as one (the 0.5B answers
    "Tell me a joke" with `{"name": "cat_joke", "arguments": {...}}`, a tool nobody offered)."""
    return bool(text.strip()) and written_call(text) is None


def exact_episode(task: dict[str, Any], executed: Sequence[tuple[str, dict[str, Any]]], finished: bool,
                  answer: str) -> bool:
    """The episode a user wants: each expected call executed once and nothing else executed (an identical
    repeat is a second execution), then an answer that uses the result; no execution and an answer when no
    tool is needed."""
    if not finished or not is_answer(answer):
        return False
    if not task["calls"]:
        return not executed
    return calls_right(task["calls"], executed) and answer_uses_result(task, answer)


def failures(task: dict[str, Any], executed: Sequence[tuple[str, dict[str, Any]]], finished: bool,
             answer: str) -> list[str]:
    """How an episode went wrong, in words a per-task table can show (empty for an exact episode). An
    execution that does an expected call already done (identically, or the calculator on its own result) is a
    `repeat`, as is any identical call run again."""
    found: list[str] = []
    wanted = {e["name"] for e in task["calls"]}
    left = list(task["calls"])  # expected calls not executed yet
    for i, call in enumerate(executed):
        hit = next((e for e in left if call_matches(e, *call)), None)
        if hit is not None and not any(_same(call, c) for c in executed[:i]):
            left.remove(hit)
        elif any(_same(call, c) for c in executed[:i]) or any(call_matches(e, *call) for e in task["calls"]):
            found.append("repeat")
        else:
            found.append("wander" if call[0] not in wanted else "vary")
    if left:
        found.append("missed")
    if not finished or not is_answer(answer):
        found.append("no answer")
    elif task["calls"] and not answer_uses_result(task, answer):
        found.append("answer without result")
    return list(dict.fromkeys(found))


# --- running ------------------------------------------------------------------------------------------------
def policy_from(names: str) -> EpisodePolicy:
    """The `--policy` value as an `EpisodePolicy` (ConfigurationError on an unknown field)."""
    if names == "default":
        return EpisodePolicy()
    if names == "none":
        return EpisodePolicy(**{f.name: False for f in dataclasses.fields(EpisodePolicy)})
    fields = {f.name for f in dataclasses.fields(EpisodePolicy)}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if unknown := [n for n in wanted if n not in fields]:
        raise ConfigurationError(f"unknown --policy field(s) {unknown}; use some of {sorted(fields)}")
    return EpisodePolicy(**dict.fromkeys(wanted, True))



def run_task(llm: Any, fmt: str, task: dict[str, Any], config: GenerationConfig, lock: Any,
             max_steps: int = 3, policy: EpisodePolicy | None = None) -> h.Record:
    executed: Executions = []
    agent = Agent(llm, counted_tools(executed), tool_format=fmt, max_steps=max_steps, config=config, policy=policy)
    with lock:
        start = time.monotonic()
        result = agent.run_result(task["query"], on_text=_ignore)  # streamed: a looping turn is cut
        seconds = time.monotonic() - start
    turns = turn_calls(result)
    first = turns[0] if turns else []
    episode = [c for turn in turns for c in turn]
    record = {"id": f"{fmt}:{task['id']}", "format": fmt, "task": task["id"], "kind": task["kind"],
              "held_out": bool(task.get("held_out")),
              "calls": [[n, a] for n, a in first], "right": calls_right(task["calls"], first),
              "episode_calls": [[[n, a] for n, a in turn] for turn in turns],
              "right_in_episode": right_over_episode(task["calls"], episode),
              "answer": result.answer, "finished": result.finished, "seconds": round(seconds, 1),
              "completion_tokens": result.usage.completion_tokens,
              "first_turn": result.steps[0].raw if result.steps else "", "turns": _turn_texts(result.steps)}
    if max_steps > 1:
        record.update(model_turns=model_turns(result), executions=[[n, a] for n, a in executed],
                      exact=exact_episode(task, executed, result.finished, result.answer),
                      failures=failures(task, executed, result.finished, result.answer),
                      end=getattr(result, "end", None))
        if task["calls"]:
            record["answered_with_result"] = result.finished and answer_uses_result(task, result.answer)
    return record


def model_turns(result: Any) -> int:
    """How many times the model was asked: its `turn` steps (the step contract); in the stream before it, one
    assistant message per turn."""
    steps = [s for s in result.steps if s.kind == "turn"]
    return len(steps) if steps else sum(1 for m in result.messages if m.role == "assistant")


def turn_calls(result: Any) -> list[list[tuple[str, dict[str, Any] | None]]]:
    """The calls the model wrote at each turn, run or not."""
    steps = [s for s in result.steps if s.kind == "turn"]
    messages = [s.message for s in steps] if steps else [m for m in result.messages if m.role == "assistant"]
    return [[(c.name, c.parsed_arguments()) for c in m.tool_calls or []] for m in messages]


def mixed(tasks: Sequence[h.Record]) -> list[h.Record]:
    """The tasks taken round-robin over their kinds, so that `--limit N` keeps every kind."""
    kinds: dict[str, list[h.Record]] = {}
    for t in tasks:
        kinds.setdefault(t["kind"], []).append(t)
    rounds = max(len(v) for v in kinds.values())
    return [group[i] for i in range(rounds) for group in kinds.values() if i < len(group)]


def summary(records: Sequence[h.Record], fmt: str) -> dict[str, Any]:
    mine = [r for r in records if r["format"] == fmt]
    tool_tasks = [r for r in mine if r["kind"] != "no_tool"]
    no_tool = [r for r in mine if r["kind"] == "no_tool"]
    parallel = [r for r in mine if r["kind"] == "parallel"]
    episodes = [r for r in mine if "right_in_episode" in r]  # older records: first turn only
    scored = [r for r in mine if "exact" in r]  # records of whole episodes, executions counted

    def share(rows: list[h.Record], pred: Any) -> float | None:
        return sum(1 for r in rows if pred(r)) / len(rows) if rows else None

    def mean(rows: list[h.Record], value: Any) -> float | None:
        return sum(value(r) for r in rows) / len(rows) if rows else None

    single = [r for r in scored if r["kind"] != "no_tool" and r["kind"] != "parallel"]
    return {"format": fmt, "tasks": len(mine), "episodes": len(scored),
            "exact": share(scored, lambda r: r["exact"]),
            "exact_held_out": share([r for r in scored if r.get("held_out")], lambda r: r["exact"]),
            "held_out": sum(1 for r in scored if r.get("held_out")),
            "mean_turns": mean(scored, lambda r: r["model_turns"]),
            "mean_executions": mean(scored, lambda r: len(r["executions"])),
            "mean_seconds": mean(scored, lambda r: r["seconds"]),
            "mean_turns_single_call": mean(single, lambda r: r["model_turns"]),
            "right": share(mine, lambda r: r["right"]),
            "right_on_tool_tasks": share(tool_tasks, lambda r: r["right"]),
            "false_positive_rate": share(no_tool, lambda r: bool(r["calls"])),
            "right_in_episode": share(episodes, lambda r: r["right_in_episode"]),
            "parallel_in_one_turn": share(parallel, lambda r: r["right"]),
            "parallel_over_turns": share([r for r in parallel if "right_in_episode" in r],
                                         lambda r: r["right_in_episode"] and not r["right"]),
            "answered_with_result": share([r for r in tool_tasks if "answered_with_result" in r],
                                          lambda r: r["answered_with_result"])}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.real_tool_use", description=__doc__.split("\n\n")[0])
    h.add_model_args(p, max_tokens=256, output_default="runs/real_tool_use/<model>.jsonl")
    p.add_argument("--formats", default="auto,react", help=f"comma-separated, from {list(FORMATS)} (default auto,react)")
    p.add_argument("--limit", type=int, help="run only the first N tasks")
    p.add_argument("--max-steps", type=int, default=3,
                   help="model turns per episode (default 3); 1 scores the first turn only, no answer")
    p.add_argument("--policy", default="default", metavar="NAME[,NAME...]",
                   help="the loop's remedies (qwen_agent.EpisodePolicy): 'default', 'none' (every remedy off: "
                        "the loop as Qwen-Agent runs it), or fields to turn on beside the defaults, e.g. "
                        "confirm_ungrounded")
    p.add_argument("--constrain-calls", choices=("on", "off"),
                   help="local backend: hold each tool call the model opens to an offered tool and its schema "
                        "(qwen_agent.llm.local.call_grammar); default: the backend's default")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if unknown := [f for f in formats if f not in FORMATS]:
        raise ConfigurationError(f"unknown format(s) {unknown}; use some of {list(FORMATS)}")
    tasks = mixed(h.read_jsonl(DATA))[: args.limit]
    output = args.output or Path("runs/real_tool_use") / f"{h.run_label(args)}.jsonl"
    llm = h.make_llm(args)
    if args.constrain_calls is not None:
        if not hasattr(llm, "constrain_calls"):
            raise ConfigurationError("--constrain-calls needs the local backend (--backend transformers)")
        llm.constrain_calls = args.constrain_calls == "on"
    lock = h.generation_lock(args) or _NoLock()
    cases = [{**t, "id": f"{f}:{t['id']}", "format": f, "task": t} for t in tasks for f in formats]  # a partial
    # run compares the formats on the same tasks
    with llm, h.ResultStore(output) as store:
        h.run_cases(cases, lambda c: run_task(llm, c["format"], c["task"], h.generation_config(args, llm), lock,
                                              args.max_steps, policy_from(args.policy)),
                    store, workers=args.workers, desc="episodes", progress=not args.no_progress)
        records = [store.records[c["id"]] for c in cases if c["id"] in store.records]
    rows = [summary(records, f) for f in formats]
    episodes = h.markdown_table(
        ["format", "episodes", "exact episodes %", "exact, held-out %", "model turns", "tool executions",
         "s / episode", "turns, one-call tasks"],
        [[r["format"], r["episodes"], h.pct(r["exact"]), h.pct(r["exact_held_out"]), _num(r["mean_turns"]),
          _num(r["mean_executions"]), _num(r["mean_seconds"], 1), _num(r["mean_turns_single_call"])] for r in rows])
    first_turn = h.markdown_table(
        ["format", "tasks", "right first turn %", "right on tool tasks %", "false positives %",
         "right over the episode %", "2 calls in one turn %", "2 calls over turns %", "answered with result %"],
        [[r["format"], r["tasks"], h.pct(r["right"]), h.pct(r["right_on_tool_tasks"]),
          h.pct(r["false_positive_rate"]), h.pct(r["right_in_episode"]), h.pct(r["parallel_in_one_turn"]),
          h.pct(r["parallel_over_turns"]), h.pct(r["answered_with_result"])] for r in rows])
    h.write_report(output, "\n\n".join([episodes, first_turn, per_task(records)]),
                   {"model": str(args.model), "constrain_calls": getattr(llm, "constrain_calls", None),
                    "formats": rows})


def per_task(records: Sequence[h.Record]) -> str:
    """One row per task and format: how the episode went (exact, or its failures), its turns and executions."""
    return h.markdown_table(
        ["task", "held out", "format", "first turn right", "episode", "turns", "executions"],
        [[r["task"], "yes" if r.get("held_out") else "", r["format"], "yes" if r["right"] else "no",
          "exact" if r.get("exact") else ", ".join(r.get("failures") or ["-"]), r.get("model_turns"),
          len(r["executions"]) if "executions" in r else None] for r in records])


def _num(value: float | None, digits: int = 2) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def _turn_texts(steps: Sequence[Any]) -> list[str]:
    """What the model wrote at each turn: its `turn` steps, or (the stream before the step contract) the action
    and final steps, those of one turn sharing its text."""
    if any(s.kind == "turn" for s in steps):
        return [s.raw for s in steps if s.kind == "turn"]
    texts: list[str] = []
    for s in steps:
        if s.kind in ("action", "final") and (not texts or s.raw is not texts[-1]):
            texts.append(s.raw)
    return texts


def _ignore(_text: str) -> None:
    return None


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    return h.cli_main(parse, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
