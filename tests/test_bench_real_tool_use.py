"""benchmarks.real_tool_use: its tools, its scoring, and a run over the scripted model (the real model's run is
recorded in docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from benchmarks import real_tool_use as b
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


def test_data_has_the_promised_mix():
    tasks = b.h.read_jsonl(b.DATA)
    kinds = [t["kind"] for t in tasks]
    assert len(tasks) >= 20 and len({t["id"] for t in tasks}) == len(tasks)
    assert {"single", "parallel", "chinese", "numeric", "no_tool"} == set(kinds)
    assert all((t["kind"] == "no_tool") == (t["calls"] == []) for t in tasks)
    assert sum(1 for t in tasks if len(t["calls"]) == 2) >= 4
    assert [t["kind"] for t in b.mixed(tasks)[:5]] == ["single", "numeric", "parallel", "chinese", "no_tool"]


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
