"""The code-interpreter math benchmark in the model's native tool-call format (`--tool-format hermes`), the
"beyond the paper" row, beside the published ReAct protocol in one table and one chart; scored by the
published rule for both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import code_interpreter as ci
from qwen_agent import ScriptedLLM
from qwen_agent.errors import ConfigurationError
from tests.conftest import BENCH_DATA

pytestmark = pytest.mark.kernel
GSM8K = BENCH_DATA / "gsm8k" / "test.jsonl"  # golds of the first three questions: 18, 3, 70000


def _args(tmp_path: Path, *extra: str):
    return ci.parse_args(["--task", "math", "--gsm8k", str(GSM8K), "--output", str(tmp_path / "out.jsonl"),
                          "--model", "scripted", *extra])


def _react(code: str) -> str:
    return f"Thought: code\nAction: code_interpreter\nAction Input:\n```py\n{code}\n```\n"


def _hermes(code: str) -> str:
    return f'<tool_call>\n{{"name": "code_interpreter", "arguments": {{"code": {json.dumps(code)}}}}}\n</tool_call>'


# Cases run question by question, ReAct first (one worker): the script follows that order.
SCRIPT = [
    _react("print(9*2)"), " I know\nFinal Answer: 18",  # math:0 right
    _hermes("print(9*2)"), "The answer is 18.",  # hermes:math:0 right ("18." ends the text: the dot is stripped)
    "Thought: guess\nFinal Answer: 4",  # math:1 wrong (gold 3)
    _hermes("print(1+2)"), "The answer is **3**.",  # hermes:math:1 wrong: "**3**" is no standalone number
    "Thought: easy\nFinal Answer: 70000",  # math:2 right
    _hermes("1/0"), "never asked: 70000",  # hermes:math:2: the error ends the episode: wrong
]


def test_react_and_hermes_side_by_side_scored_by_the_published_rule(tmp_path):
    llm = ScriptedLLM(SCRIPT)
    data = ci.run(_args(tmp_path, "--limit", "3", "--tool-format", "react,hermes"), llm=llm)
    by = data["by_format"]
    assert by["react"]["math"] == pytest.approx(2 / 3) and by["hermes"]["math"] == pytest.approx(1 / 3)
    assert by["hermes"]["math_exact_gold"] == pytest.approx(1 / 3) and by["hermes"]["counts"]["math"] == 3
    assert data["metrics"] == by["react"]  # the first format named is the run's headline

    # the native prompt: tools in the system turn, the bare question as the user turn, no ReAct stop word
    hermes_calls = [c for c in llm.calls if "<tools>" in (c[0][0].content or "")]
    (first, stop), (second, _) = hermes_calls[:2]
    assert stop == [] and '"name": "code_interpreter"' in first[0].content
    assert [m.role for m in first] == ["system", "user"] and first[1].content.startswith("Janet’s ducks lay 16 eggs per day.")
    assert "Action:" not in first[0].content + first[1].content
    # the observation, in the published layout, went back as the format's tool response
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[3].content == "<tool_response>\nstdout:\n\n```\n18\n\n```\n</tool_response>"

    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert {r["tool_format"] for r in rows.values()} == {"react", "hermes"} and len(rows) == 6
    assert rows["hermes:math:1"]["pred"] is None and rows["hermes:math:0"]["pred"] == 18
    assert len(rows["hermes:math:2"]["turns"]) == 1 and "never asked" not in rows["hermes:math:2"]["gen"]
    assert rows["hermes:math:2"]["executions"][0]["status"] == "error"

    table = (tmp_path / "out.md").read_text()
    assert "| **scripted**, ReAct (this run; the published protocol) | 66.7 | - | - | - |" in table
    assert "| **scripted**, hermes (this run; native format, beyond the paper) | 33.3 | - | - | - |" in table
    assert "NOT the published protocol" in table
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorded_native_turns_rescore_without_a_model(tmp_path):
    ci.run(_args(tmp_path, "--limit", "3", "--tool-format", "react,hermes"), llm=ScriptedLLM(SCRIPT))
    again = ci.parse_args(["--task", "math", "--gsm8k", str(GSM8K), "--limit", "3", "--tool-format",
                           "react,hermes", "--replay", str(tmp_path / "out.jsonl"), "--output",
                           str(tmp_path / "again.jsonl")])
    by = ci.run(again)["by_format"]
    assert (by["react"]["math"], by["hermes"]["math"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))


@pytest.mark.parametrize(("extra", "message"), [
    (["--tool-format", "xml"], "unknown ['xml']"),
    (["--tool-format", ","], "unknown empty"),
    (["--task", "general", "--tool-format", "hermes"], "only with --task math"),
    (["--oracle", "--tool-format", "react,hermes"], "--oracle writes ReAct text"),
    (["--tool-format", "auto", "--replay", "x.jsonl"], "not auto"),
])
def test_bad_format_choices_are_clear_errors_and_write_nothing(tmp_path, extra, message):
    args = ci.parse_args(["--task", "math", "--gsm8k", str(GSM8K), "--limit", "1", "--output",
                          str(tmp_path / "out.jsonl"), *extra])
    (tmp_path / "x.jsonl").write_text(json.dumps({"id": "auto:math:0", "turns": ["x"]}) + "\n")
    args.replay = [tmp_path / "x.jsonl"] if args.replay else None
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ci.run(args, llm=ScriptedLLM([]))
    assert not (tmp_path / "out.jsonl").exists()
