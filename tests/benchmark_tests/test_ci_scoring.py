"""benchmarks/code_interpreter/episode.py and sources.py: the pure parts (no kernel)."""

from __future__ import annotations

import json

import pytest

from benchmarks.code_interpreter import DATA_DIR, load_gsm8k, load_tasks
from benchmarks.code_interpreter import make_sample as sample
from benchmarks.code_interpreter.episode import (
    extract_code,
    gold_number,
    last_number,
    latest_action,
    split_query,
    user_prompt,
)
from benchmarks.code_interpreter.sources import OracleTurns, gsm8k_oracle_code, split_transcript
from qwen_agent import Message
from qwen_agent.errors import ConfigurationError
from tests.conftest import BENCH_DATA


@pytest.mark.parametrize(("text", "expected"), [
    ("Thought: done\nFinal Answer: 18", 18),
    ("Final Answer: The total is $1,234.", 1),  # published quirk: the digits before a comma end the number
    ("Final Answer: The total is $1234.", 1234),
    ("Final Answer: -7.25 degrees", -7.25),
    ("x is 3 and then 4}", 4),
    ("costs 3.50 dollars", 3),  # a fraction ending in 0 is not read: the integer before the point is
    ("Observation: stdout:\n\n```\n18\n```\nThought:", None),  # numbers touching a line break do not count
    ("Final Answer: 5\n", None),  # only trailing dots are stripped, so a final line break hides it too
    ("no digits here", None),
    ("step0 = 16-3-4", None),  # glued to '-' or '=': not standalone
])
def test_last_number_follows_the_published_rule(text, expected):
    got = last_number(text)
    assert got == expected and type(got) is type(expected)


def test_gold_number():
    # published rule: the gold is the last standalone number of the solution, so the thousands comma ends it
    assert gold_number("so 2+2=4\n#### 1,080") == 1
    assert gold_number("so 2+2=4\n#### 1,080", "exact") == 1080
    assert gold_number("#### 0.5") == 0.5
    with pytest.raises(ValueError):
        gold_number("no marker")


def test_latest_action_reads_the_last_call_and_restores_a_cut_stop_word():
    out = "Thought: a\nAction: x\nAction Input: 1\nThought: b\nAction: code_interpreter\nAction Input:\n```py\nprint(1)\n```"
    action, args, text = latest_action(out)
    assert action == "code_interpreter" and args == "```py\nprint(1)\n```"
    assert text == out  # cut before the Observation that was appended back
    assert latest_action("Thought: done\nFinal Answer: 3") == ("", "", "Thought: done\nFinal Answer: 3")
    assert latest_action("Action: a\nAction Input: b")[0] == ""  # published: Action must follow a newline


def test_extract_code_forms():
    assert extract_code("```python\nx = 1\n```") == "x = 1\n"
    assert extract_code("`print(2)`") == "print(2)"
    assert extract_code('{"code": "print(3)"}') == "print(3)"
    assert extract_code("print(4)") == "print(4)"


def test_split_query_and_user_prompt():
    q, prefix = split_query("Plot it.<|im_end|>\n<|im_start|>assistant\nThought: load\nAction: code_interpreter")
    assert q == "Plot it." and prefix == "Thought: load\nAction: code_interpreter"
    assert split_query("plain") == ("plain", "")
    prompt = user_prompt("画图", "zh", ["a.csv", "b.csv"])
    assert prompt.endswith("Question: [上传文件a.csv, b.csv]画图")
    assert "code_interpreter: Call this tool" in prompt and "Enclose the code within triple backticks" in prompt


def test_split_transcript_of_a_published_result():
    gen = ("Thought: a\nAction: code_interpreter\nAction Input:\n```py\nprint(1)\n```\nObservation: stdout:\n\n```\n1\n```"
           "\nThought: I know\nFinal Answer: 1")
    assert split_transcript(gen) == ["Thought: a\nAction: code_interpreter\nAction Input:\n```py\nprint(1)\n```",
                                     " I know\nFinal Answer: 1"]


def test_oracle_code_uses_the_annotation_that_gives_the_gold_number():
    answer = "She eats 3 and bakes 4, so 16 - 3 - 4 = <<16-3-4=9>>9 left.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
    code = gsm8k_oracle_code(answer)
    assert "step0 = 16-3-4" in code and "step1 = 9*2" in code and "answer = step1" in code
    # an annotation that is not Python arithmetic is skipped; the gold number is the fallback
    assert "answer = 7" in gsm8k_oracle_code("<<x=7>> and <<__import__('os')=7>>\n#### 7")
    oracle = OracleTurns(code)
    assert "```py\n" + code in oracle([Message.user("q")])
    done = oracle([Message.user("q"), Message.assistant("...Observation: stdout:\n\n```\n18\n```\nThought:")])
    assert done.endswith("Final Answer: 18")


def test_bundled_tasks_match_their_builder_and_format():
    assert (DATA_DIR / "tasks.jsonl").read_text(encoding="utf-8") == sample.render()
    for name, text in sample.files().items():
        assert (DATA_DIR / "files" / name).read_text(encoding="utf-8") == text
    rows = [json.loads(x) for x in (DATA_DIR / "tasks.jsonl").read_text().splitlines()]
    assert len(rows) >= 20 and all({"query", "tags", "lang", "input_file_path"} <= set(r) for r in rows)
    vis = load_tasks(DATA_DIR / "tasks.jsonl", "visualization")
    assert sum("<|im_start|>" in c["query"] for c in vis) == 4 and len(vis) == 12
    assert len(load_tasks(DATA_DIR / "tasks.jsonl", "general")) == 10


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="no such data file: .*nowhere.jsonl"):
        load_gsm8k(tmp_path / "nowhere.jsonl")
    bad = tmp_path / "g.jsonl"
    bad.write_text('{"question": "q", "answer": "no marker"}\n')
    with pytest.raises(ConfigurationError, match="line 1"):
        load_gsm8k(bad)
    tasks = tmp_path / "t.jsonl"
    tasks.write_text('{"query": "q", "tags": "general", "input_file_path": ["missing.csv"]}\n')
    with pytest.raises(ConfigurationError, match="missing.csv"):
        load_tasks(tasks, "general")


def test_gsm8k_test_split_loads():
    cases = load_gsm8k(BENCH_DATA / "gsm8k" / "test.jsonl")
    assert len(cases) == 1319 and cases[0]["id"] == "math:0"
    # every reference solution yields oracle code (parsed, never run here)
    assert all("print(_show(answer))" in gsm8k_oracle_code(c["answer"]) for c in cases)


def test_command_line_errors_exit_2_with_a_message(tmp_path, capsys):
    from benchmarks.code_interpreter import main

    missing = tmp_path / "missing.jsonl"
    assert main(["--task", "math", "--gsm8k", str(missing), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert f"no such data file: {missing}" in capsys.readouterr().err
    assert main(["--output", str(tmp_path / "o.jsonl")]) == 2  # bundled GSM8K, but no model named
    assert "--model" in capsys.readouterr().err
    assert main(["--task", "general", "--data", str(tmp_path), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "eval_code_interpreter_v1.jsonl" in capsys.readouterr().err  # a folder without the published file
    assert not (tmp_path / "o.jsonl").exists()  # a configuration error writes nothing
