"""The ReAct parser against what real models write. Expected values are written by hand from the inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_agent.formats.react import _parse, clean_action_input, clean_tool_name, parse_react
from qwen_agent.jsonish import loads_object

W = '{"city": "Hangzhou"}'
# (id, model text, expected kind, expected [(tool, parsed args)], expected answer)
CORPUS = [
    ("clean_call", f"Thought: I need the weather\nAction: get_weather\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("clean_final", "Thought: I now know the final answer\nFinal Answer: It is sunny.", "final", [], "It is sunny."),
    ("plain_text", "Hello! How can I help you today?", "text", [], "Hello! How can I help you today?"),
    ("own_observation", f"Thought: t\nAction: get_weather\nAction Input: {W}\nObservation: sunny\nThought: ok\n"
     "Final Answer: sunny", "tool_calls", [("get_weather", {"city": "Hangzhou"})], None),
    ("half_stop_observ", f"Action: get_weather\nAction Input: {W}\nObserv", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("half_stop_o", f"Action: get_weather\nAction Input: {W}\nO", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("json5_input", "Action: get_weather\nAction Input: {city: 'Hangzhou',}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("python_dict", "Action: search\nAction Input: {'q': 'qwen', 'exact': True, 'page': None}", "tool_calls",
     [("search", {"q": "qwen", "exact": True, "page": None})], None),
    ("json_fence", 'Action: search\nAction Input: ```json\n{"q": "qwen"}\n```', "tool_calls",
     [("search", {"q": "qwen"})], None),
    ("bare_fence", 'Action: search\nAction Input:\n```\n{"q": "qwen"}\n```\n', "tool_calls",
     [("search", {"q": "qwen"})], None),
    ("trailing_prose", 'Action: search\nAction Input: {"q": "qwen"} (searching for the model)', "tool_calls",
     [("search", {"q": "qwen"})], None),
    ("unbalanced_open", 'Action: search\nAction Input: {"q": "qwen", "filters": {"year": 2024}', "tool_calls",
     [("search", {"q": "qwen", "filters": {"year": 2024}})], None),
    ("unterminated_string", 'Action: code\nAction Input: {"code": "print(1)', "tool_calls",
     [("code", {"code": "print(1)"})], None),
    ("fullwidth_colons", f"Thought：需要查询天气\nAction：get_weather\nAction Input：{W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("fullwidth_final", "Thought：我知道答案了\nFinal Answer：杭州今天晴。", "final", [], "杭州今天晴。"),
    ("backtick_name", f"Action: `get_weather`\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("quoted_name", f'Action: "get_weather"\nAction Input: {W}', "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("bracket_name", f"Action: [get_weather]\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("name_with_period", f"Action: get_weather.\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("use_the_tool", f"Action: use the get_weather tool\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("name_with_spaces", f"Action: get weather\nAction Input: {W}", "tool_calls",
     [("get weather", {"city": "Hangzhou"})], None),
    ("two_actions", f'Action: get_weather\nAction Input: {W}\nAction: get_time\nAction Input: {{"tz": "UTC"}}',
     "tool_calls", [("get_weather", {"city": "Hangzhou"}), ("get_time", {"tz": "UTC"})], None),
    ("action_then_final", f"Action: get_weather\nAction Input: {W}\nFinal Answer: It will be sunny.",
     "tool_calls", [("get_weather", {"city": "Hangzhou"})], None),
    ("final_then_action", f"Final Answer: 42\nAction: get_weather\nAction Input: {W}", "final", [], "42"),
    ("action_none", "Thought: no tool needed\nAction: None\nFinal Answer: Paris", "final", [], "Paris"),
    ("no_action_input", "Thought: list them\nAction: list_files", "tool_calls", [("list_files", {})], None),
    ("empty_action_input", "Action: list_files\nAction Input: ", "tool_calls", [("list_files", {})], None),
    ("crlf", f"Thought: t\r\nAction: get_weather\r\nAction Input: {W}\r\n", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("lowercase_keywords", f"thought: t\naction: get_weather\naction input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("markdown_bold", f"**Thought:** t\n**Action:** get_weather\n**Action Input:** {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("numbered_action", f"Action 1: get_weather\nAction Input 1: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("space_before_colon", f"Action : get_weather\nAction Input : {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("multiline_final", "Thought: done\nFinal Answer: Line one.\nLine two.\n\n- item", "final", [],
     "Line one.\nLine two.\n\n- item"),
    ("final_with_code", "Final Answer: Use:\n```python\nprint('hi')\n```", "final", [], "Use:\n```python\nprint('hi')\n```"),
    ("final_half_stop", "Final Answer: done\nObs", "final", [], "done"),
    ("text_ending_in_O", "The chemical symbol of oxygen is O", "text", [], "The chemical symbol of oxygen is O"),
    ("thought_only", "Thought: I think the answer is 4.", "text", [], "I think the answer is 4."),
    ("leading_whitespace", f"\n\n  Thought: t\nAction: get_weather\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
    ("input_on_next_line", 'Action: search\nAction Input:\n{\n  "q": "qwen"\n}', "tool_calls",
     [("search", {"q": "qwen"})], None),
    ("nested_braces_in_string", 'Action: code\nAction Input: {"code": "d = {1: 2}\\nprint(d)"}', "tool_calls",
     [("code", {"code": "d = {1: 2}\nprint(d)"})], None),
    ("raw_code_input", "Action: code_interpreter\nAction Input: print(1 + 1)", "tool_calls",
     [("code_interpreter", None)], None),
    ("chinese_name_and_args", 'Action: 天气查询\nAction Input: {"城市": "北京"}', "tool_calls",
     [("天气查询", {"城市": "北京"})], None),
    ("empty", "", "text", [], ""),
    ("only_observation", "Observation: the model started with an observation", "text", [], ""),
    ("final_then_observation", "Final Answer: yes\nObservation: junk", "final", [], "yes"),
    ("prose_before_action", f"Let me check.\nAction: get_weather\nAction Input: {W}", "tool_calls",
     [("get_weather", {"city": "Hangzhou"})], None),
]


@pytest.mark.parametrize(("case_id", "text", "kind", "calls", "answer"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(case_id: str, text: str, kind: str, calls: list, answer: str | None) -> None:
    out = parse_react(text)
    assert out.kind == kind
    assert [c.name for c in out.calls] == [name for name, _ in calls]
    for parsed, (_, args) in zip(out.calls, calls, strict=True):
        if args is not None:
            assert (loads_object(parsed.arguments) or {}) == args
    if answer is not None:
        assert out.answer == answer


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


def test_a_parser_crash_is_logged_and_the_text_kept(monkeypatch, caplog) -> None:
    """P7: the fallback to plain text is no longer silent."""
    from qwen_agent.formats import react

    def broken(text: str) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(react, "_sections", broken)
    out = parse_react("Thought: t\nAction: get_weather")
    assert (out.kind, out.text) == ("text", "Thought: t\nAction: get_weather")
    assert "reading ReAct text failed" in caplog.text and "injected" in caplog.text


def test_thought_is_kept() -> None:
    out = parse_react(f"Thought: I need the weather\nAction: get_weather\nAction Input: {W}")
    assert out.thought == "I need the weather"


def test_raw_code_input_kept_verbatim() -> None:
    out = parse_react("Action: code_interpreter\nAction Input: print(1 + 1)")
    assert out.calls[0].arguments == "print(1 + 1)"


def test_self_written_observation_is_cut_from_text() -> None:
    out = parse_react(f"Action: get_weather\nAction Input: {W}\nObservation: invented\nFinal Answer: x")
    assert "invented" not in out.text and "Final Answer" not in out.text


@pytest.mark.parametrize(("raw", "name"), [("`calc`", "calc"), ("calc\nmore", "calc"), ("'calc'.", "calc"),
                                           ("call the calc tool", "calc"), ("<calc>", "calc")])
def test_clean_tool_name(raw: str, name: str) -> None:
    assert clean_tool_name(raw) == name


def test_clean_action_input_cuts_prose_after_object() -> None:
    assert clean_action_input('{"a": "}"} then prose') == '{"a": "}"}'


_KEYWORDS = st.sampled_from(["Thought:", "Action:", "Action Input:", "Observation:", "Final Answer:", "Action：",
                             "```json", "```", "{", "}", "\n", "Observ", '"', "'", "：", "\r\n", "Action 2:"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_KEYWORDS, st.text(max_size=12)), max_size=30))
def test_parser_never_raises_on_keyword_soup(parts: list[str]) -> None:
    out = _parse("".join(parts))  # the parser itself, not the never-raising wrapper: a crash fails the test
    assert out.kind in ("tool_calls", "final", "text")
    if out.kind == "tool_calls":
        assert out.calls and all(c.name for c in out.calls)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_on_any_text(text: str) -> None:
    out = _parse(text)
    assert out.kind in ("tool_calls", "final", "text")
    assert "Observation:" not in out.text.replace("\r", "")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=10),
                                                                      st.booleans()), max_size=4))
def test_any_json_object_round_trips_through_action_input(args: dict) -> None:
    import json

    text = f"Thought: t\nAction: tool\nAction Input: {json.dumps(args, ensure_ascii=False)}"
    out = parse_react(text)
    assert out.kind == "tool_calls"
    assert loads_object(out.calls[0].arguments) == args
