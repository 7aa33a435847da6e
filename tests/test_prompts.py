"""Prompt templates: strict rendering, Qwen's ReAct wording, and the OpenAI-history -> ReAct translation."""

from __future__ import annotations

import pytest

from qwen_agent.prompts.chatml import render_chatml
from qwen_agent.prompts.react import build_react_messages, react_prompt, tool_description, transcript_of
from qwen_agent.prompts.render import render
from qwen_agent.schema import Message, ToolCall, ToolSpec

SEARCH = ToolSpec(name="search", name_for_human="Search", description="Search the web.",
                  parameters={"type": "object", "properties": {"q": {"type": "string", "description": "query"}},
                              "required": ["q"]})


def test_render_fails_on_missing_and_unused_variables() -> None:
    assert render("{a}-{b}", a=1, b=2) == "1-2"
    with pytest.raises(KeyError, match="needs \\['b'\\]"):
        render("{a}-{b}", a=1)
    with pytest.raises(KeyError, match="no field"):
        render("{a}", a=1, c=3)


def test_tool_description_is_qwens_line() -> None:
    assert tool_description(SEARCH) == (
        "search: Call this tool to interact with the Search API. What is the Search API useful for? Search the "
        'web. Parameters: [{"name": "q", "description": "query", "required": true, "schema": {"type": "string"}}] '
        "Format the arguments as a JSON object."
    )


def test_react_prompt_en_and_zh() -> None:
    en = react_prompt("Who won?", [SEARCH])
    assert en.startswith("Answer the following questions as best you can. You have access to the following tools:")
    assert "Action: the action to take, should be one of [search]" in en and en.endswith("Question: Who won?")
    zh = react_prompt("谁赢了？", [SEARCH], lang="zh")
    assert "search: 调用此工具与Search API进行交互。" in zh and zh.endswith("Question: 谁赢了？")


def test_history_translation_to_react() -> None:
    call = ToolCall(id="c1", name="search", arguments='{"q": "qwen"}')
    messages = [
        Message.system("sys"),
        Message.user("old question"),
        Message.assistant("thinking", [call]),
        Message.tool("old result", "c1"),
        Message.assistant("old answer"),
        Message.user("new question"),
        Message.assistant("let me search", [ToolCall(id="c2", name="search", arguments='{"q": "x"}')]),
        Message.tool("new result", "c2"),
    ]
    out = build_react_messages(messages, [SEARCH])
    assert [m.role for m in out] == ["system", "user", "assistant", "user"]
    assert out[2].content == ('Thought: thinking\nAction: search\nAction Input: {"q": "qwen"}\nObservation: old '
                              "result\nThought: I now know the final answer\nFinal Answer: old answer")
    assert out[3].content.endswith('Question: new question\nThought: let me search\nAction: search\nAction Input: '
                                   '{"q": "x"}\nObservation: new result\n')


def test_tool_results_without_ids_match_by_position() -> None:
    calls = [ToolCall(name="a", arguments="{}"), ToolCall(name="b", arguments="{}")]
    text = transcript_of([Message.assistant(None, calls), Message.tool("ra"), Message.tool("rb")])
    assert text == "Action: a\nAction Input: {}\nObservation: ra\nAction: b\nAction Input: {}\nObservation: rb\n"


def test_without_tools_messages_stay_plain() -> None:
    msgs = [Message.user("hi")]
    assert build_react_messages(msgs, []) == msgs


def test_chatml_continues_a_final_assistant_message() -> None:
    text = render_chatml([Message.user("q"), Message.assistant("Thought:")])
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"
                    "<|im_start|>assistant\nThought:")
    assert render_chatml([Message.system("s"), Message.user("q")]).endswith("<|im_start|>assistant\n")


def test_tool_block_is_reused_only_for_the_same_specs() -> None:
    first = react_prompt("q", [SEARCH])
    assert react_prompt("q", [SEARCH]) == first
    changed = SEARCH.model_copy(update={"description": "Search the whole web."})
    assert "Search the whole web." in react_prompt("q", [changed])
    assert react_prompt("q", [SEARCH], lang="zh") != first
