"""The server's OpenAPI document, served at /openapi.json: the request bodies clients send and every response
the server gives, errors included, so a schema-driven fuzzer (schemathesis) can generate requests and check
each answer against it.

The routes read their bodies by hand (to answer OpenAI's error shape), so FastAPI cannot infer these schemas.
The request schemas are those of the models the server validates with (`protocol.ChatCompletionRequest`,
`protocol.CompletionRequest`: unknown fields allowed, as the server ignores them); the responses are written
here, with OpenAI's field names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from qwen_agent.server.protocol import ChatCompletionRequest, CompletionRequest

_REF = "#/components/schemas/{model}"


# --- responses ----------------------------------------------------------------------------------------------
class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Closed):
    message: str
    type: str
    param: str | None
    code: str | None


class Error(_Closed):
    error: ErrorDetail


class PromptTokensDetails(_Closed):
    cached_tokens: int


class Usage(_Closed):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)
    prompt_tokens_details: PromptTokensDetails | None = None


class FunctionCallOut(_Closed):
    name: str
    arguments: str


class ToolCallOut(_Closed):
    id: str
    type: Literal["function"]
    function: FunctionCallOut


class AssistantReply(_Closed):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    function_call: FunctionCallOut | None = None


FinishReason = Literal["stop", "length", "tool_calls", "function_call"]


class ChatChoice(_Closed):
    index: int
    message: AssistantReply
    logprobs: None
    finish_reason: FinishReason


class ChatCompletion(_Closed):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(_Closed):
    index: int
    text: str
    logprobs: None
    finish_reason: FinishReason


class Completion(_Closed):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class FunctionCallDelta(_Closed):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(_Closed):
    """A call's first delta has its id, type and name; later ones add to its arguments (OpenAI's shape)."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta | None = None


class ChatDelta(_Closed):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    function_call: FunctionCallDelta | None = None


class ChatChunkChoice(_Closed):
    index: int
    delta: ChatDelta
    logprobs: None
    finish_reason: FinishReason | None


class ChatCompletionChunk(_Closed):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class CompletionChunkChoice(_Closed):
    index: int
    text: str
    logprobs: None
    finish_reason: FinishReason | None


class CompletionChunk(_Closed):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChunkChoice]
    usage: Usage | None = None


class ModelCard(_Closed):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Closed):
    object: Literal["list"]
    data: list[ModelCard]


_MODELS: list[type[BaseModel]] = [ChatCompletionRequest, CompletionRequest, Error, ChatCompletion, Completion,
                                  ChatCompletionChunk, CompletionChunk, ModelCard, ModelList]

# Statuses each kind of operation can answer besides 200, and why.
_REQUEST_ERRORS = {
    "400": "malformed JSON or an invalid field (`param` names it), or a prompt over the context window",
    "401": "missing or wrong API key",
    "404": "unknown model",
    "408": "the body did not arrive within the server's deadline",
    "413": "the body is larger than the server accepts",
    "415": "the body is not sent as application/json",
    "500": "the model backend failed",
    "503": "the server holds too many request bodies at once; retry after `Retry-After` seconds",
}
_READ_ERRORS = {"401": "missing or wrong API key", "404": "unknown model"}


def openapi_document(model_name: str, title: str = "qwen_agent OpenAI-compatible server") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server serving `model_name`."""
    _, top = models_json_schema([(m, "validation") for m in _MODELS], ref_template=_REF)
    schemas = top["$defs"]
    for name in ("ChatCompletionRequest", "CompletionRequest"):  # the one model this server serves
        schemas[name]["properties"]["model"] = {"type": "string", "enum": [model_name]}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/chat/completions": {"post": _post("ChatCompletionRequest", "ChatCompletion", "chat")},
            "/v1/completions": {"post": _post("CompletionRequest", "Completion", "completion")},
            "/v1/models": {"get": _get("ModelList", "listModels", {"401": _READ_ERRORS["401"]})},
            "/v1/models/{model_id}": {"get": {
                **_get("ModelCard", "getModel", _READ_ERRORS),
                "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            }},
        },
    }


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=schema)}}}


def _errors(statuses: dict[str, str]) -> dict[str, Any]:
    return {status: {"description": why, "content": _json("Error")} for status, why in statuses.items()}


def _sse_event(chunk: str) -> dict[str, Any]:
    """One server-sent event: `data` holds a JSON `chunk` (or an in-band error), and the last one `[DONE]`."""
    data = {"type": "string", "anyOf": [{"const": "[DONE]"}, {"pattern": "^\\{"}],
            "contentSchema": {"anyOf": [{"$ref": _REF.format(model=chunk)}, {"$ref": _REF.format(model="Error")}]}}
    return {"schema": {"type": "object", "required": ["data"], "properties": {"data": data}}}


def _post(request: str, response: str, name: str) -> dict[str, Any]:
    content = {**_json(response), "text/event-stream": _sse_event(response + "Chunk")}
    return {
        "operationId": name,
        "requestBody": {"required": True, "content": _json(request)},
        "responses": {"200": {"description": "the answer; server-sent events when `stream` is true",
                              "content": content}, **_errors(_REQUEST_ERRORS)},
    }


def _get(response: str, name: str, errors: dict[str, str]) -> dict[str, Any]:
    return {"operationId": name,
            "responses": {"200": {"description": "OK", "content": _json(response)}, **_errors(errors)}}


def install_openapi(app: Any, model_name: str) -> None:
    """Serve `openapi_document(model_name)` as the FastAPI app's /openapi.json (and /docs)."""
    document = openapi_document(model_name, app.title)
    app.openapi = lambda: document
