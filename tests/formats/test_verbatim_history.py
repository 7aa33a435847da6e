"""An assistant turn goes back into the next prompt as the model wrote it (its `raw_text`), so an engine's prefix
cache finds the tokens it generated; the message wins whenever the two disagree."""

from __future__ import annotations

from qwen_agent import Agent, ScriptedLLM, tool
from qwen_agent.formats import get_format
from qwen_agent.formats.template import ChatTemplateFormat, server_reply_text
from qwen_agent.function_calling import build_request
from qwen_agent.schema import Message, ToolCall, ToolSpec

ADD = ToolSpec(name="add", parameters={"type": "object", "properties": {"a": {"type": "integer"},
                                                                          "b": {"type": "integer"}}})
FENCED = '```json\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n```'
TAGGED = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _assistant_texts(prompt: list[Message]) -> list[str | None]:
    return [m.content for m in prompt if m.role == "assistant"]


def _episode(fmt, raw: str) -> list[Message]:  # noqa: ANN001 - a ToolFormat
    message = build_request(fmt, [ADD]).read(raw).message
    return [Message.user("1+2?"), message, Message.tool("3", message.tool_calls[0].id, "add")]


def test_a_fenced_call_is_rendered_again_as_written() -> None:
    fmt = get_format("hermes")
    history = _episode(fmt, FENCED)
    assert history[1].raw_text == FENCED and history[1].tool_calls[0].name == "add"
    prompt = build_request(fmt, [ADD]).render(history).prompt
    assert _assistant_texts(prompt) == [FENCED]
    assert prompt[-1] == Message.user("<tool_response>\n3\n</tool_response>")


def test_qwen3_coder_turn_is_rendered_again_as_written() -> None:
    fmt = get_format("qwen3_coder")
    raw = "Let me add.\n<tool_call>\n<function=add>\n<parameter=a>\n1\n</parameter>\n<parameter=b>\n2\n</parameter>\n" \
          "</function>\n</tool_call>"
    prompt = build_request(fmt, [ADD]).render(_episode(fmt, raw)).prompt
    assert _assistant_texts(prompt) == [raw]


def test_an_edited_message_wins_over_its_raw_text() -> None:
    fmt = get_format("hermes")
    history = _episode(fmt, FENCED)
    edited = history[1].model_copy(update={"tool_calls": [ToolCall(name="add", arguments='{"a": 5, "b": 2}')]})
    prompt = build_request(fmt, [ADD]).render([history[0], edited, history[2]]).prompt
    assert _assistant_texts(prompt) == ['<tool_call>\n{"name": "add", "arguments": {"a": 5, "b": 2}}\n</tool_call>']
    recontented = history[1].model_copy(update={"content": "I will add them."})
    prompt = build_request(fmt, [ADD]).render([history[0], recontented, history[2]]).prompt
    assert _assistant_texts(prompt) == ["I will add them.\n" + TAGGED]


def test_a_history_without_raw_text_renders_the_calls_in_markup() -> None:
    call = ToolCall(name="add", arguments='{"a": 1, "b": 2}', id="call_1")
    history = [Message.user("1+2?"), Message.assistant(None, [call]), Message.tool("3", "call_1", "add")]
    prompt = build_request(get_format("hermes"), [ADD]).render(history).prompt
    assert _assistant_texts(prompt) == [TAGGED]


def test_a_turn_with_reasoning_or_without_tools_on_offer_is_not_put_back_raw() -> None:
    fmt = get_format("hermes")
    thought = "<think>\nadd them\n</think>\n\n" + FENCED
    history = _episode(fmt, thought)
    assert history[1].reasoning_content == "add them"
    prompt = build_request(fmt, [ADD]).render(history).prompt
    assert _assistant_texts(prompt) == [TAGGED]  # Qwen2.5's template drops an earlier turn's reasoning
    answering = build_request(fmt, [ADD], "none").render(_episode(fmt, FENCED)).prompt
    assert _assistant_texts(answering) == [TAGGED]  # with no tools on offer the fence would read as text


def test_a_plain_answer_keeps_no_raw_text_and_raw_text_is_never_sent() -> None:
    fmt = get_format("hermes")
    assert build_request(fmt, [ADD]).read("It is 3.").message.raw_text is None
    message = _episode(fmt, FENCED)[1]
    assert "raw_text" not in message.to_openai()


def test_server_format_sends_back_a_call_it_recovered_from_content_as_written() -> None:
    fmt = ChatTemplateFormat(get_format("hermes"), send_choice=True)
    prompt = build_request(fmt, [ADD]).render(_episode(fmt, FENCED)).prompt
    assert prompt[1] == Message.assistant(FENCED) and prompt[2].role == "tool"


def test_server_format_sends_back_the_calls_the_server_parsed_as_calls() -> None:
    fmt = ChatTemplateFormat(get_format("hermes"), send_choice=True)
    raw = server_reply_text("", "", [("add", '{"a": 1, "b": 2}', "chatcmpl-tool-7")])
    prompt = build_request(fmt, [ADD]).render(_episode(fmt, raw)).prompt
    assert prompt[1].tool_calls[0].id == "chatcmpl-tool-7" and prompt[1].content is None


def test_the_agent_puts_the_models_fenced_call_back_into_its_next_prompt() -> None:
    llm = ScriptedLLM([FENCED, "The sum is 3."])
    with Agent(llm, [add], tool_format="hermes") as agent:
        result = agent.run_result("What is 1 + 2?")
    assert result.answer == "The sum is 3."
    second_prompt = llm.calls[1][0]
    assert _assistant_texts(second_prompt) == [FENCED]
    calling = next(m for m in result.messages if m.tool_calls)
    assert calling.raw_text == FENCED  # the history handed back keeps it for the next question


def test_the_page_gets_no_raw_text() -> None:
    from qwen_agent.schema import Step
    from qwen_agent.ui.events import step_event

    message = _episode(get_format("hermes"), FENCED)[1]
    event = step_event(Step(kind="turn", index=0, message=message, raw=FENCED))
    assert "raw" not in event and "raw_text" not in event["message"]
    assert event["message"]["tool_calls"][0]["name"] == "add"
