"""benchmarks.real_tool_use: its tools, its scoring, and a run over the scripted model (the real model's run is
recorded in docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from benchmarks.tool_use import real_tool_use as b
from qwen_agent.llm.scripted import ScriptedLLM


def test_tools_compute_what_the_tasks_expect():
    assert b.calculator.call({"expression": "1234 * 5678"}) == "7006652"
    assert b.calculator.call({"expression": "2^20"}) == "1048576"
    assert b.convert_currency.call({"amount": 99.5, "from_currency": "gbp", "to_currency": "JPY"}) == "18905 JPY"
    assert b.convert_currency.call({"amount": 100, "from_currency": "EUR", "to_currency": "USD"}) == "108.7 USD"
    assert b.get_weather.call({"city": "北京"}) == "北京: 9°C, windy"
    with pytest.raises(ValueError, match="not arithmetic"):
        b.evaluate("__import__('os')")


def test_scoring_matches_by_value_in_any_order():
    two = [{"name": "get_weather", "arguments": {"city": ["Paris"]}},
           {"name": "calculator", "arguments": {"expression": {"value": 391}}}]
    assert b.calls_right(two, [("calculator", {"expression": "23*17"}), ("get_weather", {"city": "paris"})])
    assert not b.calls_right(two, [("get_weather", {"city": "Paris"})])  # one call missing
    assert not b.calls_right(two, [("calculator", {"expression": "23*18"}), ("get_weather", {"city": "Paris"})])
    fx = [{"name": "convert_currency", "arguments": {"amount": {"number": 1000000}, "from_currency": ["JPY"],
                                                     "to_currency": ["USD"]}}]
    assert b.calls_right(fx, [("convert_currency", {"amount": "1,000,000", "from_currency": "JPY", "to_currency": "USD"})])
    assert not b.calls_right(fx, [("convert_currency", None)])  # arguments that are not an object
    assert b.calls_right([], [])


def test_answer_holds_a_result_as_a_number_not_as_digits_of_another():
    paris = {"answer_contains": ["14"]}
    assert b.answer_uses_result(paris, "It is 14°C with light rain in Paris.")
    assert b.answer_uses_result(paris, "Paris: 14.0 degrees.")
    assert not b.answer_uses_result(paris, "Paris had its warmest day in 2014.")
    assert not b.answer_uses_result(paris, "It is 1.14 times warmer.")
    power = {"answer_contains": ["1048576"]}
    assert b.answer_uses_result(power, "2 to the power of 20 is 1,048,576.")
    assert b.answer_uses_result({"answer_contains": ["14.1"]}, "中国有14.1亿人口。")
    both = {"answer_contains": ["92", "79"], "all_of": True}
    assert b.answer_uses_result(both, "100 USD is 92 EUR, and 79.00 GBP.")
    assert not b.answer_uses_result(both, "100 USD is 92 EUR.")
    rain = {"answer_contains": ["22", "not raining"]}
    assert b.answer_uses_result(rain, "No, it is NOT raining in Tokyo.")
    assert not b.answer_uses_result(rain, "no data for this city")


def test_episode_calls_right_when_all_made_and_none_wrong():
    two = [{"name": "get_weather", "arguments": {"city": ["Paris"]}},
           {"name": "get_weather", "arguments": {"city": ["Tokyo"]}}]
    paris, tokyo = ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"})
    assert b.right_over_episode(two, [paris, tokyo])
    assert b.right_over_episode(two, [paris, paris, tokyo])  # a repeat is slow, not wrong
    assert not b.right_over_episode(two, [paris, paris])  # Tokyo never asked
    assert not b.right_over_episode(two, [paris, tokyo, ("get_weather", {"city": "Cairo"})])
    product = [{"name": "calculator", "arguments": {"expression": {"value": 7006652}}}]
    assert b.right_over_episode(product, [("calculator", {"expression": "1234 * 5678"}),
                                          ("calculator", {"expression": "7006652"})])  # checks its result
    assert b.right_over_episode([], []) and not b.right_over_episode([], [paris])


def test_data_has_the_promised_mix():
    tasks = b.h.read_jsonl(b.DATA)
    kinds = [t["kind"] for t in tasks]
    assert len(tasks) >= 20 and len({t["id"] for t in tasks}) == len(tasks)
    assert {"single", "parallel", "chinese", "numeric", "no_tool"} == set(kinds)
    assert all((t["kind"] == "no_tool") == (t["calls"] == []) for t in tasks)
    assert sum(1 for t in tasks if len(t["calls"]) == 2) >= 4
    assert [t["kind"] for t in b.mixed(tasks)[:5]] == ["single", "numeric", "parallel", "chinese", "no_tool"]


def test_episode_columns_keep_two_calls_in_one_turn_apart_from_two_turns(tmp_path, monkeypatch):
    def call(city: str) -> str:
        return f'<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{city}"}}}}\n</tool_call>'

    # two_weather done as two calls in one turn, then done as one call per turn (the Paris call repeated)
    one_turn = [call("Paris") + "\n" + call("Tokyo"), "Paris: 14°C, Tokyo: 22°C."]
    sequential = [call("Paris"), call("Tokyo"), call("Paris")]  # the third turn is the step limit: no answer
    llm = ScriptedLLM(one_turn + sequential)
    monkeypatch.setattr(b.h, "make_llm", lambda _args: llm)
    monkeypatch.setattr(b, "mixed", lambda tasks: [t for t in tasks if t["id"] == "two_weather"])
    rows = []
    for fmt in ("hermes", "auto"):  # two formats: two records of the same task
        out = tmp_path / f"{fmt}.jsonl"
        b.run(b.parse(["--model", "scripted", "--formats", fmt, "--output", str(out), "--no-progress"]))
        rows += [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["right"], r["right_in_episode"], r["answered_with_result"]) for r in rows] == [
        (True, True, True), (False, True, False)]
    assert [len(t) for t in rows[1]["episode_calls"]] == [1, 1, 1]
    summary = b.summary(rows, "auto")
    assert (summary["parallel_in_one_turn"], summary["parallel_over_turns"], summary["right_in_episode"]) == (
        0.0, 1.0, 1.0)


def test_run_scores_a_scripted_model_and_resumes(tmp_path, capsys, monkeypatch):
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    # task 1 (Paris): right call, then an answer with the result; task 2 (a product): a wrong call, no result
    llm = ScriptedLLM([call, "It is 14°C with light rain.", call, "Sorry."])  # tasks 1-2 (round-robin order)
    out = tmp_path / "r.jsonl"
    args = b.parse(["--model", "scripted", "--formats", "hermes", "--limit", "2", "--output", str(out), "--no-progress"])
    monkeypatch.setattr(b.h, "make_llm", lambda _args: llm)  # the scripted model in place of a real one
    b.run(args)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["task"], r["right"], r["answered_with_result"]) for r in rows] == [
        ("weather_paris", True, True), ("calc_product", False, False)]
    summary = json.loads(out.with_suffix(".json").read_text())["formats"][0]
    assert (summary["right"], summary["answered_with_result"], summary["false_positive_rate"]) == (0.5, 0.5, None)
    b.run(args)  # resumed: nothing left to ask the model
    assert len(llm.calls) == 4
    assert "| hermes | 2 | 50.0 |" in capsys.readouterr().out
