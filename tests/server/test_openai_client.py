"""The real openai client against the server: plain, streamed, tool calls, parallel, forced, multi-turn."""

from __future__ import annotations

import json

from qwen_agent.schema import Message
from tests.server.conftest import MODEL

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function",
        "function": {**WEATHER["function"], "name": "get_time", "description": "Local time in a city."}}
CALL = 'Thought: I should check.\nAction: get_weather\nAction Input: {"city": "Paris"}\nObservation: rainy'
TWO = (
    'Thought: both\nAction: get_weather\nAction Input: {"city": "Paris"}\n'
    'Action: get_time\nAction Input: {"city": "Tokyo"}\nObservation: invented'
)


def test_plain_answer_and_prompt_received(serve_scripted):
    llm, client, _ = serve_scripted(["Hello there! END and more"])
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"}],
        stop=["END"], temperature=0.5, max_tokens=50,
    )
    assert resp.choices[0].message.content == "Hello there! "
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.tool_calls is None
    assert resp.usage.completion_tokens == len("Hello there! END and more")
    prompt, stop = llm.calls[0]
    assert prompt == [Message.system("Be nice."), Message.user("Hi")]
    assert stop == ["END"]


def test_streamed_answer(serve_scripted):
    llm, client, _ = serve_scripted(["The quick brown fox jumps."], chunk_size=4)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say it"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The quick brown fox jumps."
    # chunks the model wrote faster than the client read may arrive merged, but the format is OpenAI's
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == len(text)


def test_tool_call_non_streamed(serve_scripted):
    llm, client, _ = serve_scripted([CALL])
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")
    prompt, stop = llm.calls[0]
    assert "Observation:" in stop
    assert "get_weather: Call this tool to interact with the get_weather API." in prompt[-1].content
    assert prompt[-1].content.endswith("Question: Weather in Paris?")


def test_tool_call_streamed_arrives_whole(serve_scripted):
    _, client, _ = serve_scripted([CALL], chunk_size=2)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER], stream=True,
    ))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 1
    assert deltas[0].function.name == "get_weather"
    assert json.loads(deltas[0].function.arguments) == {"city": "Paris"}
    assert "Observation" not in deltas[0].function.arguments
    assert all(not c.choices[0].delta.content for c in chunks)  # the Thought is not shown as an answer
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_two_parallel_tool_calls_and_parallel_off(serve_scripted):
    _, client, _ = serve_scripted([TWO, TWO])
    msgs = [{"role": "user", "content": "Paris weather and Tokyo time?"}]
    resp = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME])
    calls = resp.choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Tokyo"})]
    assert calls[0].id != calls[1].id
    resp = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME],
                                          parallel_tool_calls=False)
    assert [c.function.name for c in resp.choices[0].message.tool_calls] == ["get_weather"]


def test_tool_choice_forced_prefills_action(serve_scripted):
    llm, client, _ = serve_scripted(['{"city": "Lima"}\nObservation: x', '`Get_Time`\nAction Input: {"city": "Oslo"}'])
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Anything"}], tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    (call,) = resp.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_time", '{"city": "Lima"}')
    assert llm.calls[0][0][-1] == Message.assistant("Action: get_time\nAction Input: ")
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Anything"}], tools=[WEATHER, TIME],
        tool_choice="required", stream=True,
    )
    deltas = [tc for c in stream for tc in (c.choices[0].delta.tool_calls or [])]
    assert llm.calls[1][0][-1] == Message.assistant("Action: ")
    # the model names the tool; a variant spelling is mapped to the offered name
    assert [(d.function.name, d.function.arguments) for d in deltas] == [("get_time", '{"city": "Oslo"}')]


def test_tool_choice_none_hides_tools(serve_scripted):
    llm, client, _ = serve_scripted(["Action: get_weather"])
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=[WEATHER], tool_choice="none",
    )
    assert resp.choices[0].message.content == "Action: get_weather"
    assert llm.calls[0][0] == [Message.user("Hi")]


def test_multi_turn_with_tool_results(serve_scripted):
    llm, client, _ = serve_scripted([TWO, "Thought: I now know the final answer\nFinal Answer: Rainy, 9 am."])
    msgs = [{"role": "user", "content": "Paris weather and Tokyo time?"}]
    first = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME])
    message = first.choices[0].message
    msgs.append(message.model_dump(exclude_none=True))
    for call, result in zip(message.tool_calls, ["rainy", "9 am"], strict=True):
        msgs.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = client.chat.completions.create(model=MODEL, messages=msgs, tools=[WEATHER, TIME], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in second)
    assert text == "Rainy, 9 am."
    transcript = llm.calls[1][0][-1].content
    assert transcript.endswith(
        "Question: Paris weather and Tokyo time?\nThought: both\nAction: get_weather\n"
        'Action Input: {"city": "Paris"}\nObservation: rainy\nAction: get_time\n'
        'Action Input: {"city": "Tokyo"}\nObservation: 9 am\n'
    )


def test_legacy_functions_answer_with_function_call(serve_scripted):
    _, client, _ = serve_scripted([CALL, '{"city": "Paris"}'])
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather?"}], functions=[WEATHER["function"]],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.function_call.name == "get_weather"
    assert choice.message.tool_calls is None
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather?"}], functions=[WEATHER["function"]],
        function_call={"name": "get_weather"}, stream=True,
    ))
    calls = [c.choices[0].delta.function_call for c in chunks if c.choices[0].delta.function_call]
    assert [(f.name, f.arguments) for f in calls] == [("get_weather", '{"city": "Paris"}')]
    assert chunks[-1].choices[0].finish_reason == "function_call"


def test_text_completion_plain_streamed_and_echo(serve_scripted):
    llm, client, _ = serve_scripted(["Paris.\nQuestion: next", "Rome is nice.", " sky"])
    resp = client.completions.create(model=MODEL, prompt="Capital of France:", stop=["\nQuestion:"])
    assert resp.choices[0].text == "Paris."
    assert llm.calls[0] == ("Capital of France:", ["\nQuestion:"])
    pieces = list(client.completions.create(model=MODEL, prompt="Say", stream=True))
    assert "".join(c.choices[0].text for c in pieces if c.choices) == "Rome is nice."
    echoed = client.completions.create(model=MODEL, prompt="Blue", echo=True, max_tokens=3)
    assert echoed.choices[0].text == "Blue sky"


def test_models_listing(serve_scripted):
    _, client, _ = serve_scripted([])
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL


def test_continue_final_message(serve_scripted):
    llm, client, _ = serve_scripted([" world!"])
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Greet"}, {"role": "assistant", "content": "Hello"}],
        extra_body={"continue_final_message": True, "add_generation_prompt": False},
    )
    assert resp.choices[0].message.content == " world!"
    assert llm.calls[0][0][-1] == Message.assistant("Hello")
