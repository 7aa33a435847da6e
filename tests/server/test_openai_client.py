"""The real openai client against the server: plain and streamed text, tool_choice none, legacy functions,
completions, models. Tool calls in every format: test_tool_formats.py."""

from __future__ import annotations

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
CALL = 'Thought: I should check.\nAction: get_weather\nAction Input: {"city": "Paris"}\nObservation: rainy'


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


def test_tool_choice_none_hides_tools(serve_scripted):
    llm, client, _ = serve_scripted(["Action: get_weather"], tool_format="react")
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=[WEATHER], tool_choice="none",
    )
    assert resp.choices[0].message.content == "Action: get_weather"
    assert llm.calls[0][0] == [Message.user("Hi")]


def test_legacy_functions_answer_with_function_call(serve_scripted):
    _, client, _ = serve_scripted([CALL, '{"city": "Paris"}'], tool_format="react")
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
