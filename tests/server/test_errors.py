"""Bad requests get OpenAI's error shape with the right status; nothing reaches the model."""

from __future__ import annotations

import httpx
import openai
import pytest

from qwen_agent.errors import ContextLengthError
from qwen_agent.llm.base import LLM
from qwen_agent.schema import Generation
from tests.server.conftest import MODEL, running

USER = [{"role": "user", "content": "Hi"}]


def _post(server, path: str, body, headers=None) -> httpx.Response:
    kwargs = {"content": body} if isinstance(body, str | bytes) else {"json": body}
    headers = {"Content-Type": "application/json", **(headers or {})}
    return httpx.post(server.base_url + path, headers=headers, timeout=10, **kwargs)


def _error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    return err


def test_bad_json_is_400(serve_scripted):
    llm, _, server = serve_scripted(["x"])
    err = _error(_post(server, "/chat/completions", '{"model": "qwen-scripted", "messages": [', ), 400)
    assert "not valid JSON" in err["message"] and err["type"] == "invalid_request_error"
    assert _error(_post(server, "/chat/completions", "[1, 2]"), 400)["message"].startswith("the request body")
    assert llm.calls == []


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": MODEL}, "messages", "Field required"),
        ({"model": MODEL, "messages": []}, "messages", "at least 1"),
        ({"messages": USER}, "model", "Field required"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0]", "unknown role"),
        ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0]",
         "only text"),
        ({"model": MODEL, "messages": [{"role": "system", "content": "x"}]}, "messages", "user message"),
        ({"model": MODEL, "messages": USER, "temperature": 9}, "temperature", "less than or equal"),
        ({"model": MODEL, "messages": USER, "n": 2}, "n", "less than or equal"),
        ({"model": MODEL, "messages": USER, "tool_choice": "get_x",
          "tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice", "not among the tools"),
        ({"model": MODEL, "messages": USER, "tools": [{"type": "function", "function": {"description": "?"}}]},
         "tools[0]", "not an OpenAI tool"),
        ({"model": MODEL, "messages": USER, "tools": [{"type": "function", "function": {"name": "f"}}] * 2},
         "tools", "duplicate"),
    ],
)
def test_invalid_chat_requests_are_400(serve_scripted, body, param, words):
    llm, _, server = serve_scripted(["x"])
    err = _error(_post(server, "/chat/completions", body), 400)
    assert err["param"] == param and words in err["message"]
    assert llm.calls == []


def test_invalid_tool_schema_is_400_through_openai_client(serve_scripted):
    llm, client, _ = serve_scripted(["x"])
    bad = {"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=USER, tools=[bad])
    assert info.value.status_code == 400
    assert info.value.body["param"] == "tools[0].function.parameters"
    assert "not a valid JSON Schema" in info.value.body["message"]
    assert llm.calls == []


def test_unknown_model_is_404(serve_scripted):
    _, client, server = serve_scripted(["x"])
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=USER)
    assert info.value.body["code"] == "model_not_found"
    assert _error(_post(server, "/completions", {"model": "gpt-9", "prompt": "x"}), 404)["param"] == "model"
    assert _error(httpx.get(server.base_url + "/models/gpt-9"), 404)["code"] == "model_not_found"
    assert _error(httpx.get(server.base_url + "/nope"), 404)["code"] == "not_found"


def test_context_window_exceeded_is_400(serve_scripted, qwen_tokenizer):
    llm, client, server = serve_scripted(["x"], context_window=60, count_tokens=qwen_tokenizer.count)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 80}])
    assert info.value.body["code"] == "context_length_exceeded"
    assert "maximum context length is 60 tokens" in info.value.body["message"]
    # a short prompt fits, unless the requested completion does not
    with pytest.raises(openai.BadRequestError, match="context length"):
        client.chat.completions.create(model=MODEL, messages=USER, max_tokens=100)
    err = _error(_post(server, "/completions", {"model": MODEL, "prompt": "word " * 80}), 400)
    assert (err["code"], err["param"]) == ("context_length_exceeded", "prompt")
    assert llm.calls == []
    assert client.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content == "x"


def test_api_key_missing_or_wrong_is_401(serve_scripted):
    _, client, server = serve_scripted(["ok"], api_key="s3cret")
    assert _error(_post(server, "/chat/completions", {"model": MODEL, "messages": USER}), 401)["code"] == (
        "invalid_api_key")
    wrong = openai.OpenAI(base_url=server.base_url, api_key="guess", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert client.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content == "ok"


def test_continue_final_message_needs_assistant_last(serve_scripted):
    _, _, server = serve_scripted(["x"])
    body = {"model": MODEL, "messages": USER, "continue_final_message": True}
    assert "last assistant message" in _error(_post(server, "/chat/completions", body), 400)["message"]


class _Failing(LLM):
    model_name = "failing"

    def _generate(self, prompt, stop, config) -> Generation:
        raise ContextLengthError("prompt of 9000 tokens exceeds the 8192-token window")


def test_backend_errors_map_to_openai_errors_also_mid_stream():
    with running(_Failing(), model_name="failing") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="failing", messages=USER)
        assert info.value.body["code"] == "context_length_exceeded"
        with pytest.raises(openai.APIError, match="8192"):
            list(client.chat.completions.create(model="failing", messages=USER, stream=True))
