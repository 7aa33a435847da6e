"""OpenAI's wire format: request models, their translation into qwen_agent's types, and response bodies.

Pure data and functions (pydantic only, no web framework), so they can be tested and reused on their own.
Every rejection is an `APIError` carrying the HTTP status and OpenAI's error fields.

The request models are the one source of both validation and the request schemas of /openapi.json
(`openapi.py` builds the document from them): a field added here is validated and documented. Where the
server reads a value by hand to answer a precise error (`messages[2]: unknown role ...`), the model validates
its loose type and documents its shape (`Documented`).
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, TypeAdapter, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import ToolFormat
from qwen_agent.function_calling import FunctionCallingRequest, build_request, tool_calls_from_openai
from qwen_agent.schema import GenerationConfig, Message, ToolCall, ToolSpec, Usage
from qwen_agent.text import text_of_parts

# Bounds on what one request may ask for: each stop string, tool and message costs work on every request
# (10,000 stop strings made one reply take a minute of the model thread; 10,000 tools, 12 s of the event
# loop; 100,000 messages, 4 s). OpenAI allows 4 stop strings and 128 tools.
MAX_STOPS = 16
MAX_TOOLS = 128
MAX_MESSAGES = 10_000


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class Documented:
    """A field's annotation: validated as its own (loose) type, documented in /openapi.json as `shape`."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(TypeAdapter(self.shape).core_schema)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- the shapes documented for the values read by hand ---------------------------------------------------------
class TextPart(_Open):
    type: Literal["text"]
    text: str


Content = str | list[TextPart]


class FunctionCall(_Open):
    name: str
    arguments: str | dict[str, Any] = ""


class ToolCallIn(_Open):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(_Open):
    role: Literal["system", "developer"]
    content: Content | None = None
    name: str | None = None


class UserMessage(_Open):
    role: Literal["user"]
    content: Content | None = None
    name: str | None = None


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[ToolCallIn] | None = None
    function_call: FunctionCall | None = None


class ToolMessage(_Open):
    role: Literal["tool", "function"]
    content: Content | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionSpec(_Open):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = Field(default=None, description="a JSON Schema (draft 2020-12)")


class Tool(_Open):
    type: Literal["function"] = "function"
    function: FunctionSpec


class NamedToolChoice(_Open):
    type: Literal["function"] = "function"
    function: dict[str, str]


class StreamOptions(_Open):
    include_usage: bool = False


ChatMessage = Annotated[dict[str, Any], Documented(SystemMessage | UserMessage | AssistantMessage | ToolMessage)]


# --- requests -------------------------------------------------------------------------------------------------
class _Request(BaseModel):
    """Fields shared by /v1/chat/completions and /v1/completions, with their bounds. Unknown fields are
    accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOPS)] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    top_k: int | None = Field(default=None, ge=-1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # what torch.manual_seed takes
    repetition_penalty: float | None = Field(default=None, gt=0.0, le=10.0)  # vLLM's extension, transformers' rule
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    stream_options: Annotated[dict[str, Any], Documented(StreamOptions)] | None = None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    def config(self, default: GenerationConfig) -> GenerationConfig:
        update: dict[str, Any] = {}
        for key in ("temperature", "top_p", "seed", "repetition_penalty"):
            if getattr(self, key) is not None:
                update[key] = getattr(self, key)
        if self.top_k is not None:
            update["top_k"] = self.top_k if self.top_k > 0 else None  # vLLM: -1 means no top-k
        if self.requested_max_tokens is not None:
            update["max_tokens"] = self.requested_max_tokens
        return default.model_copy(update=update)

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_tokens

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    tools: list[Annotated[dict[str, Any], Documented(Tool)]] | None = Field(default=None, max_length=MAX_TOOLS)
    functions: list[Annotated[dict[str, Any], Documented(FunctionSpec)]] | None = Field(default=None,
                                                                                      max_length=MAX_TOOLS)
    tool_choice: Annotated[Any, Documented(str | NamedToolChoice | None)] = Field(
        default=None, description='"none", "auto", "required" ("any" too), a tool\'s name, or a named function')
    function_call: Annotated[Any, Documented(Literal["none", "auto"] | dict[str, str] | None)] = None
    parallel_tool_calls: bool = True
    max_completion_tokens: int | None = Field(default=None, ge=1)
    continue_final_message: bool = False

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def legacy_functions(self) -> bool:
        """The client used `functions` / `function_call`, so the answer uses `function_call` too."""
        return bool(self.functions) and not self.tools


class CompletionRequest(_Request):
    prompt: str | list[str] = Field(description="one prompt (a list must hold exactly one)")
    echo: bool = False

    def prompt_text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise APIError(400, "only one prompt per request is supported", param="prompt")
        return self.prompt[0]


def validate(model: type[BaseModel], body: Any) -> Any:
    """`model` validated from a decoded JSON body, or a 400 APIError naming the first bad field."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as e:
        errors = e.errors()
        first = ".".join(str(p) for p in errors[0]["loc"]) if errors else None
        details = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in errors[:5])
        raise APIError(400, f"invalid request: {details}", param=first) from None


# --- requests -> qwen_agent types ---------------------------------------------------------------------------
def parse_messages(raw: list[dict[str, Any]]) -> list[Message]:
    """OpenAI chat messages as `Message`s (text content only; `developer` reads as `system`)."""
    out = []
    for i, m in enumerate(raw):
        try:
            out.append(_parse_message(m))
        except (ValueError, TypeError) as e:
            raise APIError(400, f"messages[{i}]: {e}", param=f"messages[{i}]") from None
    return out


def _parse_message(m: Any) -> Message:
    if not isinstance(m, dict):
        raise ValueError("each message must be an object")
    role = m.get("role")
    content = text_of_parts(m.get("content"))
    if role in ("system", "developer", "user"):
        return Message(role="user" if role == "user" else "system", content=content or "", name=m.get("name"))
    if role == "assistant":
        calls: list[ToolCall] = []
        if m.get("tool_calls"):
            calls = tool_calls_from_openai(m["tool_calls"])
        elif isinstance(m.get("function_call"), dict):
            calls = tool_calls_from_openai([{"function": m["function_call"], "id": "call_0"}])
        return Message.assistant(content, calls or None)
    if role in ("tool", "function"):
        return Message.tool(content or "", tool_call_id=m.get("tool_call_id"), name=m.get("name"))
    raise ValueError(f"unknown role {role!r}; use system, developer, user, assistant or tool")


def parse_tools(req: ChatCompletionRequest) -> list[ToolSpec]:
    """The request's `tools` (or legacy `functions`), each parameter schema checked as JSON Schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    field_name, entries = ("tools", req.tools) if req.tools else ("functions", req.functions or [])
    specs = []
    for i, entry in enumerate(entries):
        where = f"{field_name}[{i}]"
        if field_name == "tools" and entry.get("type", "function") != "function":
            raise APIError(400, f"{where}: only tools of type 'function' are supported", param=f"{where}.type")
        try:
            spec = ToolSpec.from_openai(entry)
        except (ValueError, TypeError) as e:
            raise APIError(400, f"{where}: {e}", param=where) from None
        try:
            Draft202012Validator.check_schema(spec.parameters)
        except SchemaError as e:
            param = f"{where}.function.parameters" if field_name == "tools" else f"{where}.parameters"
            raise APIError(400, f"{param} is not a valid JSON Schema: {e.message}", param=param) from None
        specs.append(spec)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise APIError(400, f"duplicate tool names in {field_name}: {names}", param=field_name)
    return specs


def function_calling_request(req: ChatCompletionRequest, fmt: ToolFormat) -> FunctionCallingRequest:
    """The request's tools and tool_choice over the server's format (the agent's own assembly)."""
    tools = parse_tools(req)
    raw_choice, param = (req.function_call, "function_call") if req.legacy_functions else (req.tool_choice, "tool_choice")
    try:
        return build_request(fmt, tools, raw_choice, req.parallel_tool_calls)
    except ConfigurationError as e:
        raise APIError(400, str(e), param=param) from None


# --- responses ------------------------------------------------------------------------------------------------
def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage_body(usage: Usage | None) -> dict[str, int]:
    u = usage or Usage()
    body = {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }
    if u.cached_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": u.cached_tokens}  # type: ignore[assignment]
    return body


def message_body(message: Message, legacy: bool) -> dict[str, Any]:
    """The assistant message: content, plus `tool_calls` (or legacy `function_call`: the first call)."""
    body: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.reasoning_content:
        body["reasoning_content"] = message.reasoning_content
    calls = message.tool_calls or []
    if calls and legacy:
        body["function_call"] = {"name": calls[0].name, "arguments": calls[0].arguments}
    elif calls:
        body["tool_calls"] = [c.to_openai() for c in calls]
    return body


def reasoning_delta(text: str) -> dict[str, Any]:
    """A stream delta carrying reasoning, under both names servers use (vLLM's and Ollama's)."""
    return {"reasoning_content": text, "reasoning": text}


def finish_reason(message: Message, reason: str | None, legacy: bool) -> str:
    if message.tool_calls:
        return "function_call" if legacy else "tool_calls"
    return reason or "stop"


def envelope(kind: Literal["chat", "chat.chunk", "text"], rid: str, model: str, created: int | None = None) -> dict:
    obj = {"chat": "chat.completion", "chat.chunk": "chat.completion.chunk", "text": "text_completion"}[kind]
    return {"id": rid, "object": obj, "created": created or int(time.time()), "model": model}


def tool_call_deltas(message: Message, legacy: bool, piece: int = 16) -> list[dict[str, Any]]:
    """Stream deltas for the message's calls as OpenAI sends them: per call, one delta with its index, id
    and name, then its arguments in pieces of `piece` characters."""
    calls = message.tool_calls or []
    if legacy:
        return [{"function_call": {"name": c.name, "arguments": c.arguments}} for c in calls[:1]]
    out: list[dict[str, Any]] = []
    for i, c in enumerate(calls):
        out.append({"tool_calls": [{"index": i, "id": c.id, "type": "function",
                                    "function": {"name": c.name, "arguments": ""}}]})
        out.extend({"tool_calls": [{"index": i, "function": {"arguments": c.arguments[k : k + piece]}}]}
                   for k in range(0, len(c.arguments), piece))
    return out
