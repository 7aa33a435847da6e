"""benchmarks.real_tool_use: its tools, its scoring, and a run over the scripted model (the real model's run is
recorded in docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from benchmarks.tool_use import real_tool_use as b
from qwen_agent.errors import ToolArgumentError
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
    # the third turn only repeats Paris: the loop runs nothing and asks for the answer (a fourth turn)
    sequential = [call("Paris"), call("Tokyo"), call("Paris"), "I looked at both cities."]
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
    assert [len(t) for t in rows[1]["episode_calls"]] == [1, 1, 1, 0]
    assert (rows[1]["model_turns"], len(rows[1]["executions"]), rows[1]["end"]) == (4, 2, "answer_turn")
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


# --- the episode headline --------------------------------------------------------------------------------------
PARIS = {"id": "weather_paris", "kind": "single", "calls": [{"name": "get_weather", "arguments": {"city": ["Paris"]}}],
         "answer_contains": ["14"]}
FX = {"id": "fx_usd_eur", "kind": "numeric", "answer_contains": ["230"],
      "calls": [{"name": "convert_currency",
                 "arguments": {"amount": {"number": 250}, "from_currency": ["USD"], "to_currency": ["EUR"]}}]}
HELLO = {"id": "none_greeting", "kind": "no_tool", "calls": []}


def test_an_exact_episode_runs_each_expected_call_once_and_answers_with_its_result():
    paris = ("get_weather", {"city": "Paris"})
    assert b.exact_episode(PARIS, [paris], True, "It is 14°C in Paris.")
    assert b.failures(PARIS, [paris], True, "It is 14°C in Paris.") == []
    # the identical call run twice: two executions, not exact
    assert not b.exact_episode(PARIS, [paris, paris], True, "It is 14°C in Paris.")
    assert b.failures(PARIS, [paris, paris], True, "It is 14°C in Paris.") == ["repeat"]
    # right call, but the episode ended with no answer (the step limit), or with one that ignores the result
    assert not b.exact_episode(PARIS, [paris], False, "Paris: 14°C, light rain")
    assert b.failures(PARIS, [paris], False, "Paris: 14°C, light rain") == ["no answer"]
    assert b.failures(PARIS, [paris], True, "I cannot tell.") == ["answer without result"]
    # a tool nobody asked for, with invented arguments, after the right call
    wander = ("convert_currency", {"amount": 1.0, "from_currency": "celsius", "to_currency": "fahrenheit"})
    assert b.failures(PARIS, [paris, wander], True, "14") == ["wander"]
    assert not b.exact_episode(PARIS, [paris, wander], True, "14")


def test_a_varied_call_is_wrong_and_a_missed_call_is_named():
    right = ("convert_currency", {"amount": 250.0, "from_currency": "USD", "to_currency": "EUR"})
    back = ("convert_currency", {"amount": 230.0, "from_currency": "EUR", "to_currency": "USD"})
    assert not b.exact_episode(FX, [right, back], True, "250 USD is 230 EUR.")
    assert b.failures(FX, [right, back], True, "250 USD is 230 EUR.") == ["vary"]
    assert b.failures(FX, [back], True, "It is 250 USD.") == ["vary", "missed", "answer without result"]
    assert b.failures(FX, [], True, "About 230 euros.") == ["missed"]


def test_the_calculator_run_on_its_own_result_is_a_repeat():
    product = {"calls": [{"name": "calculator", "arguments": {"expression": {"value": 7006652}}}],
               "answer_contains": ["7006652"]}
    done, again = ("calculator", {"expression": "1234 * 5678"}), ("calculator", {"expression": "7006652"})
    assert b.failures(product, [done, again], True, "It is 7006652.") == ["repeat"]
    assert not b.exact_episode(product, [done, again], True, "It is 7006652.")


def test_a_no_tool_question_is_exact_with_no_execution_and_an_answer():
    assert b.exact_episode(HELLO, [], True, "I'm well, thanks!")
    assert not b.exact_episode(HELLO, [], True, "  ")  # no answer
    # the real 0.5B's answers to "Tell me a short joke about cats." and "Translate 'good morning' into Spanish."
    for call in ('{"name": "cat_joke", "arguments": {"message": "Why did the cat sleep all night?"}}',
                 '```json\n{"name": "good morning", "arguments": {"city": "Paris"}}\n```'):
        assert not b.exact_episode(HELLO, [], True, call) and b.failures(HELLO, [], True, call) == ["no answer"]
    assert b.exact_episode(HELLO, [], True, '{"greeting": "hi"}')  # JSON asked for is an answer
    beijing = ("get_weather", {"city": "Beijing"})
    assert not b.exact_episode(HELLO, [beijing], True, "Beijing: 9°C")
    assert b.failures(HELLO, [beijing], True, "Beijing: 9°C") == ["wander"]


def test_data_marks_a_third_held_out_every_third_line():
    tasks = b.h.read_jsonl(b.DATA)
    assert [i for i, t in enumerate(tasks) if t.get("held_out")] == list(range(2, len(tasks), 3))
    assert {t["id"] for t in tasks} >= {"none_greeting", "none_joke", "weather_capital_japan", "fx_eur_usd"}
    assert b.convert_currency.call({"amount": 46, "from_currency": "EUR", "to_currency": "USD"}) == "50 USD"


def _episode(tmp_path, monkeypatch, replies: list[str], task_id: str, max_steps: int = 3) -> dict:
    llm = ScriptedLLM(replies)
    monkeypatch.setattr(b.h, "make_llm", lambda _args: llm)
    monkeypatch.setattr(b, "mixed", lambda tasks: [t for t in tasks if t["id"] == task_id])
    out = tmp_path / f"{task_id}.jsonl"
    b.run(b.parse(["--model", "scripted", "--formats", "hermes", "--output", str(out), "--no-progress",
                   "--max-steps", str(max_steps)]))
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    return row


def _call(name: str, arguments: dict) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def test_the_tools_count_each_execution_a_repeat_included():
    executed: list = []
    weather, calculator, *_ = b.counted_tools(executed)
    assert weather.call({"city": "Paris"}) == weather.call('{"city": "Paris"}') == "Paris: 14°C, light rain"
    assert calculator.call({"expression": "2**10"}) == "1024"
    assert executed == [("get_weather", {"city": "Paris"})] * 2 + [("calculator", {"expression": "2**10"})]
    with pytest.raises(ToolArgumentError, match="Invalid arguments for get_weather"):
        weather.call({"city": ["Paris", "Tokyo"]})  # rejected before it runs: not an execution
    assert len(executed) == 3


def test_a_repeat_the_loop_declines_is_no_execution(tmp_path, monkeypatch):
    paris = _call("get_weather", {"city": "Paris"})
    # turn 2 asks for Paris again: the loop does not run it and asks for the answer (turn 3)
    row = _episode(tmp_path, monkeypatch, [paris, paris, "It is 14°C with light rain in Paris."], "weather_paris")
    assert row["episode_calls"] == [[["get_weather", {"city": "Paris"}]]] * 2 + [[]]
    assert row["executions"] == [["get_weather", {"city": "Paris"}]]
    assert (row["model_turns"], row["exact"], row["failures"], row["end"]) == (3, True, [], "answer_turn")


def test_a_varied_call_runs_and_makes_the_episode_inexact(tmp_path, monkeypatch):
    there = _call("convert_currency", {"amount": 250, "from_currency": "USD", "to_currency": "EUR"})
    back = _call("convert_currency", {"amount": 230, "from_currency": "EUR", "to_currency": "USD"})
    row = _episode(tmp_path, monkeypatch, [there, back, "250 US dollars are 230 euros."], "fx_usd_eur")
    assert row["executions"] == [["convert_currency", {"amount": 250.0, "from_currency": "USD", "to_currency": "EUR"}],
                                 ["convert_currency", {"amount": 230.0, "from_currency": "EUR", "to_currency": "USD"}]]
    assert (row["model_turns"], row["exact"], row["failures"]) == (3, False, ["vary"])
    assert row["right"] and row["answered_with_result"]  # the first turn and the answer were right


def test_a_call_the_loop_rejects_is_made_but_not_executed(tmp_path, monkeypatch):
    # a list where the tool wants a string: the arguments fail validation, the tool never runs
    both = _call("get_weather", {"city": ["Cairo", "London"]})
    cairo, london = _call("get_weather", {"city": "Cairo"}), _call("get_weather", {"city": "London"})
    row = _episode(tmp_path, monkeypatch, [both, cairo + "\n" + london, "Cairo is warmer: 31°C against 11°C."],
                   "two_weather_cairo_london")
    assert row["episode_calls"][0] == [["get_weather", {"city": ["Cairo", "London"]}]]
    assert row["executions"] == [["get_weather", {"city": "Cairo"}], ["get_weather", {"city": "London"}]]
    assert (row["model_turns"], row["exact"], row["held_out"]) == (3, True, True)


def test_summary_puts_exact_episodes_turns_executions_and_seconds_first(tmp_path, monkeypatch, capsys):
    row = _episode(tmp_path, monkeypatch, [_call("get_weather", {"city": "Paris"}), "It is 14°C."], "weather_paris")
    hello = {**row, "id": "hermes:none_greeting", "task": "none_greeting", "kind": "no_tool", "held_out": True,
             "exact": False, "model_turns": 3, "executions": [["get_weather", {"city": "Beijing"}]] * 3,
             "seconds": 9.0, "calls": [["get_weather", {"city": "Beijing"}]], "right": False}
    s = b.summary([{**row, "seconds": 3.0}, hello], "hermes")
    assert (s["exact"], s["exact_held_out"], s["held_out"]) == (0.5, 0.0, 1)
    assert (s["mean_turns"], s["mean_executions"], s["mean_seconds"]) == (2.5, 2.0, 6.0)
    assert s["mean_turns_single_call"] == 2.0
    printed = capsys.readouterr().out
    assert printed.index("exact episodes %") < printed.index("right first turn %")
    assert "| hermes | 1 | 100.0 |" in printed  # the one scripted episode was exact
    assert "| weather_paris |  | hermes | yes | exact | 2 | 1 |" in printed
    assert b.per_task([hello]).splitlines()[-1] == "| none_greeting | yes | hermes | no | - | 3 | 3 |"


def test_constrain_calls_sets_the_local_backends_switch_and_refuses_other_backends(tmp_path, monkeypatch):
    """`--constrain-calls on|off` sets the local backend's `constrain_calls`; a backend without it (a server, the
    scripted model) is a clear error, not a silently unconstrained run."""
    from qwen_agent.errors import ConfigurationError

    class Local(ScriptedLLM):
        constrain_calls = True

    out = tmp_path / "r.jsonl"
    llm = Local(["Hello!"])
    monkeypatch.setattr(b.h, "make_llm", lambda _args: llm)
    b.run(b.parse(["--model", "local", "--formats", "hermes", "--limit", "1", "--constrain-calls", "off",
                   "--output", str(out), "--no-progress"]))
    assert llm.constrain_calls is False
    assert json.loads(out.with_suffix(".json").read_text())["constrain_calls"] is False
    monkeypatch.setattr(b.h, "make_llm", lambda _args: ScriptedLLM(["Hello!"]))
    with pytest.raises(ConfigurationError, match="local backend"):
        b.run(b.parse(["--model", "scripted", "--constrain-calls", "on", "--output", str(tmp_path / "s.jsonl")]))
