"""Tool calls through the server in every format, with the real openai client: plain and streamed calls,
parallel calls, forced tools, multi-turn with tool results, reasoning fields. The scripted model writes what a
Qwen model of that format writes; the client sees the same OpenAI answers whatever the format."""

from __future__ import annotations

import json

import pytest

from qwen_agent.schema import Message
from tests.server.conftest import MODEL
from tests.server.test_openai_client import WEATHER

TIME = {"type": "function",
        "function": {**WEATHER["function"], "name": "get_time", "description": "Local time in a city."}}


def hermes_call(name: str, args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


# What each format's model writes: one call (with its reasoning), two calls, the rest of a turn forced to call
# get_time, the rest of a turn forced to call some tool, and a final answer after the results.
SCRIPTS = {
    "react": {
        "call": 'Thought: I should check.\nAction: get_weather\nAction Input: {"city": "Paris"}\nObservation: rainy',
        "two": 'Thought: both\nAction: get_weather\nAction Input: {"city": "Paris"}\n'
               'Action: get_time\nAction Input: {"city": "Tokyo"}\nObservation: invented',
        "forced": '{"city": "Lima"}\nObservation: x',
        "required": '`Get_Time`\nAction Input: {"city": "Oslo"}',
        "final": "Thought: I now know the final answer\nFinal Answer: Rainy, 9 am.",
        "results_seen": ["Observation: rainy\n", "Observation: 9 am\n"],
    },
    "hermes": {
        "call": "<think>\nI should check.\n</think>\n\n" + hermes_call("get_weather", {"city": "Paris"}),
        "two": hermes_call("get_weather", {"city": "Paris"}) + "\n" + hermes_call("get_time", {"city": "Tokyo"}),
        "forced": '{"city": "Lima"}}\n</tool_call>',
        "required": '{"name": "Get_Time", "arguments": {"city": "Oslo"}}\n</tool_call>',
        "final": "<think>\nI now know.\n</think>\n\nRainy, 9 am.",
        "results_seen": ["<tool_response>\nrainy\n</tool_response>\n<tool_response>\n9 am\n</tool_response>"],
    },
}


def coder_call(name: str, args: dict) -> str:
    params = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in args.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


SCRIPTS["qwen3_coder"] = {
    "call": "<think>\nI should check.\n</think>\n\n" + coder_call("get_weather", {"city": "Paris"}),
    "two": coder_call("get_weather", {"city": "Paris"}) + "\n" + coder_call("get_time", {"city": "Tokyo"}),
    "forced": "<parameter=city>\nLima\n</parameter>\n</function>\n</tool_call>",
    "required": "<function=Get_Time>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>",
    "final": "<think>\nI now know.\n</think>\n\nRainy, 9 am.",
    "results_seen": ["<tool_response>\nrainy\n</tool_response>", "<tool_response>\n9 am\n</tool_response>"],
}
FORMATS = sorted(SCRIPTS)


def reasoning_of(message) -> str | None:
    return (message.model_extra or {}).get("reasoning_content")


@pytest.mark.parametrize("fmt", FORMATS)
def test_tool_call_non_streamed_with_reasoning(serve_scripted, fmt):
    llm, client, _ = serve_scripted([SCRIPTS[fmt]["call"]], tool_format=fmt)
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")
    assert not choice.message.content  # no markup, no reasoning in the answer text
    assert reasoning_of(choice.message) == "I should check."
    assert "get_weather" in json.dumps([m.model_dump() for m in llm.calls[0][0]])  # the tool was shown


@pytest.mark.parametrize("fmt", FORMATS)
def test_tool_call_streamed_as_openai_does(serve_scripted, fmt):
    _, client, _ = serve_scripted([SCRIPTS[fmt]["call"]], chunk_size=2, tool_format=fmt)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER], stream=True,
    ))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    head = deltas[0]
    assert (head.index, head.function.name, head.type) == (0, "get_weather", "function") and head.id
    assert all(d.index == 0 and d.id is None and d.function.name is None for d in deltas[1:])
    assert len(deltas) > 2  # the arguments come in pieces
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Paris"}
    assert all(not c.choices[0].delta.content for c in chunks)  # no markup and no reasoning as content
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks)
    assert reasoning == "I should check."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_parallel_tool_calls_and_parallel_off(serve_scripted, fmt):
    two = SCRIPTS[fmt]["two"]
    _, client, _ = serve_scripted([two, two, two], tool_format=fmt)
    msgs = [{"role": "user", "content": "Paris weather and Tokyo time?"}]
    resp = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME])
    calls = resp.choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Tokyo"})]
    assert calls[0].id != calls[1].id
    resp = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME],
                                          parallel_tool_calls=False)
    assert [c.function.name for c in resp.choices[0].message.tool_calls] == ["get_weather"]
    streamed = list(client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME], stream=True))
    heads = [tc for c in streamed for tc in (c.choices[0].delta.tool_calls or []) if tc.function.name]
    assert [(h.index, h.function.name) for h in heads] == [(0, "get_weather"), (1, "get_time")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_forced_tool_named_and_required(serve_scripted, fmt):
    s = SCRIPTS[fmt]
    llm, client, _ = serve_scripted([s["forced"], s["required"]], tool_format=fmt)
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Anything"}], tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    (call,) = resp.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_time", {"city": "Lima"})
    forced = llm.calls[0][0][-1]
    assert forced.role == "assistant" and "get_time" in forced.content  # the turn starts with the call
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Anything"}], tools=[WEATHER, TIME],
        tool_choice="required", stream=True,
    )
    deltas = [tc for c in stream for tc in (c.choices[0].delta.tool_calls or [])]
    # the model names the tool; a variant spelling is mapped to the offered name
    assert deltas[0].function.name == "get_time"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Oslo"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_turn_with_tool_results(serve_scripted, fmt):
    s = SCRIPTS[fmt]
    llm, client, _ = serve_scripted([s["two"], s["final"]], tool_format=fmt)
    msgs = [{"role": "user", "content": "Paris weather and Tokyo time?"}]
    first = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME])
    message = first.choices[0].message
    msgs.append(message.model_dump(exclude_none=True))
    for call, result in zip(message.tool_calls, ["rainy", "9 am"], strict=True):
        msgs.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = list(client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in second if c.choices) == "Rainy, 9 am."
    assert second[-1].choices[0].finish_reason == "stop"
    prompt_text = "\n".join(m.content or "" for m in llm.calls[1][0])
    assert all(seen in prompt_text for seen in s["results_seen"])


def test_reasoning_of_a_plain_answer_streams_apart_from_content(serve_scripted):
    llm, client, _ = serve_scripted(["<think>\nShort.\n</think>\n\nHello!"] * 2, chunk_size=3,
                                    tool_format="hermes")
    resp = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=[WEATHER])
    assert resp.choices[0].message.content == "Hello!"
    assert reasoning_of(resp.choices[0].message) == "Short."
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    extra = [(c.choices[0].delta.model_extra or {}) for c in chunks if c.choices]
    assert "".join(e.get("reasoning_content") or "" for e in extra) == "Short."
    assert "".join(e.get("reasoning") or "" for e in extra) == "Short."
    assert llm.calls[1][0][-1] == Message.user("Hi") and "<tools>" not in llm.calls[1][0][0].content


def test_reasoning_streams_before_the_answer_as_it_is_written(serve_scripted):
    thinking = "<think>\nFirst I add. Then I check the sum twice, carefully.\n</think>\n\nThe sum is 4."
    _, client, _ = serve_scripted([thinking], chunk_size=4, tool_format="hermes")
    chunks = [c for c in client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "2+2?"}], tools=[WEATHER], stream=True) if c.choices]
    kinds = [("reasoning" if (c.choices[0].delta.model_extra or {}).get("reasoning_content") else
              "content" if c.choices[0].delta.content else None) for c in chunks]
    kinds = [k for k in kinds if k]
    assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    assert "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks) == (
        "First I add. Then I check the sum twice, carefully.")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The sum is 4."
