"""smolagents integration: our LLM backends as a smolagents `Model`, and tools in both directions.

    from smolagents import CodeAgent
    from qwen_agent.integrations.smolagents import QwenModel, to_smolagents_tool

    agent = CodeAgent(tools=[to_smolagents_tool(my_tool)], model=QwenModel(get_llm("openai", model=...)))
    agent.run("...")

Written against smolagents 1.26: `Model.generate(messages, stop_sequences, response_format, tools_to_call_from,
**kwargs) -> ChatMessage` and `generate_stream(...) -> Iterator[ChatMessageStreamDelta]`. Messages arrive as
`ChatMessage` objects or dicts whose content is a string or a list of `{"type": "text", "text": ...}` parts;
smolagents' tool-call / tool-response roles become assistant / user turns, as smolagents does for chat models
without native tool calling. `ToolCallingAgent` works through smolagents' own text parsing of the JSON action
the model writes (its system prompt asks for it), or, with `QwenModel(llm, tool_format="auto")`, through the
model's own tool-call format (Hermes for Qwen2.5/3, ...): the tools are rendered the way the model was trained
and its calls come back as `ChatMessage.tool_calls`. Importing this module needs the `smolagents` extra.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from qwen_agent.errors import MissingDependencyError
from qwen_agent.formats import ToolFormat
from qwen_agent.function_calling import build_request, resolve_tool_format
from qwen_agent.llm.base import LLM
from qwen_agent.schema import GenerationConfig, Message, ToolSpec, Usage
from qwen_agent.text import text_of_parts
from qwen_agent.tools.base import Tool

try:
    import smolagents
    from smolagents.models import (
        ChatMessage,
        ChatMessageStreamDelta,
        ChatMessageToolCall,
        ChatMessageToolCallFunction,
        ChatMessageToolCallStreamDelta,
        MessageRole,
        get_tool_json_schema,
    )
    from smolagents.monitoring import TokenUsage
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("smolagents", "smolagents", "The smolagents adapter") from e

_ROLE_MAP = {"system": "system", "user": "user", "assistant": "assistant", "tool-call": "assistant",
             "tool-response": "user"}
_JSON_TYPES = {"string", "boolean", "integer", "number", "array", "object", "null"}


class QwenModel(smolagents.Model):
    """A qwen_agent `LLM` as a smolagents `Model`.

    Args:
        llm: any backend of the `LLM` contract (OpenAI-compatible server, local transformers, ...).
        config: generation settings for every call (default: the backend's).
        model_id: the name smolagents shows (default: `llm.model_name`).
        tool_format: None (default): tools are left to smolagents' own prompt and text parsing. Else the
            format the model calls tools in (a name in `qwen_agent.formats.FORMATS`, e.g. "auto", or a
            `ToolFormat`): `tools_to_call_from` are rendered in it and calls come back as `tool_calls`.
        **kwargs: passed to `smolagents.Model` (e.g. `flatten_messages_as_text`).
    """

    def __init__(self, llm: LLM, *, config: GenerationConfig | None = None, model_id: str | None = None,
                 tool_format: str | ToolFormat | None = None, **kwargs: Any) -> None:
        super().__init__(model_id=model_id or llm.model_name, **kwargs)
        self.llm = llm
        self.config = config
        self.tool_format = resolve_tool_format(tool_format, llm) if tool_format is not None else None

    @property
    def supports_stop_parameter(self) -> bool:
        return True  # the LLM contract trims stop strings for every backend

    def generate(self, messages: Sequence[Any], stop_sequences: list[str] | None = None,
                 response_format: dict[str, str] | None = None, tools_to_call_from: list[Any] | None = None,
                 **kwargs: Any) -> ChatMessage:
        """One reply to `messages`, cut at the first of `stop_sequences`."""
        _refuse_structured_output(response_format)
        if self.tool_format is not None and tools_to_call_from:
            return self._generate_calls(messages, stop_sequences or [], tools_to_call_from)
        result = self.llm.generate(to_qwen_messages(messages), stop=stop_sequences or (), config=self.config)
        return ChatMessage(role=MessageRole.ASSISTANT, content=result.text, raw=result,
                           token_usage=_token_usage(result.usage))

    def _generate_calls(self, messages: Sequence[Any], stop: list[str], tools: list[Any]) -> ChatMessage:
        assert self.tool_format is not None
        specs = [ToolSpec.from_openai(get_tool_json_schema(t)) for t in tools]
        req = build_request(self.tool_format, specs, "required")  # smolagents ends every step with a tool
        rendered = req.render(to_qwen_messages(messages), stop)
        result = self.llm.generate(rendered.prompt, stop=rendered.stop, config=self.config)
        turn = req.read(result.text, result.usage)
        calls = [ChatMessageToolCall(id=c.id, type="function",
                                     function=ChatMessageToolCallFunction(name=c.name, arguments=c.arguments))
                 for c in turn.message.tool_calls or []]
        return ChatMessage(role=MessageRole.ASSISTANT, content=turn.message.content, tool_calls=calls or None,
                           raw=result, token_usage=_token_usage(result.usage))

    def generate_stream(self, messages: Sequence[Any], stop_sequences: list[str] | None = None,
                        response_format: dict[str, str] | None = None, tools_to_call_from: list[Any] | None = None,
                        **kwargs: Any) -> Iterator[ChatMessageStreamDelta]:
        """The reply as deltas; the last one carries the token usage when the backend reports it. With a
        `tool_format` and tools, the reply is read in that format first (a call is only known once it is whole),
        then given as one delta holding its text and its calls."""
        _refuse_structured_output(response_format)
        if self.tool_format is not None and tools_to_call_from:
            message = self._generate_calls(messages, stop_sequences or [], tools_to_call_from)
            calls = [ChatMessageToolCallStreamDelta(index=i, id=c.id, type=c.type, function=c.function)
                     for i, c in enumerate(message.tool_calls or [])]
            yield ChatMessageStreamDelta(content=message.content, tool_calls=calls or None,
                                         token_usage=message.token_usage)
            return
        for chunk in self.llm.stream(to_qwen_messages(messages), stop=stop_sequences or (), config=self.config):
            usage = _token_usage(chunk.usage) if chunk.finish_reason is not None else None
            if chunk.text or usage is not None:
                yield ChatMessageStreamDelta(content=chunk.text or None, token_usage=usage)


def _refuse_structured_output(response_format: dict[str, str] | None) -> None:
    if response_format is not None:
        raise ValueError("QwenModel does not support response_format (structured outputs); create the agent "
                         "with use_structured_outputs_internally=False")


def _token_usage(usage: Usage | None) -> TokenUsage | None:
    if usage is None:
        return None
    return TokenUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)


def to_qwen_messages(messages: Sequence[Any]) -> list[Message]:
    """smolagents messages (ChatMessage or dict) as our `Message`s; text parts of a content list are joined."""
    converted = []
    for m in messages:
        role = m["role"] if isinstance(m, dict) else m.role
        content = m.get("content") if isinstance(m, dict) else m.content
        role = role.value if isinstance(role, MessageRole) else str(role)
        if role not in _ROLE_MAP:
            raise ValueError(f"unknown smolagents message role {role!r}")
        converted.append(Message(role=_ROLE_MAP[role], content=_text_of(content)))
    return converted


def _text_of(content: Any) -> str:
    return text_of_parts(content, sep="\n") or ""  # smolagents' parts are blocks of their own: one a line


# --- tools ---------------------------------------------------------------------------------------------------
def to_smolagents_tool(tool: Tool) -> smolagents.Tool:
    """Our `Tool` as a smolagents `Tool`; positional arguments map to the parameters in schema order."""
    properties: dict[str, Any] = tool.parameters.get("properties") or {}
    required = set(tool.parameters.get("required", list(properties)))
    inputs = {name: _smolagents_input(schema, name in required) for name, schema in properties.items()}
    ours = tool

    class _Bridged(smolagents.Tool):
        name = ours.name
        description = ours.description or ours.name
        output_type = "any"
        skip_forward_signature_validation = True

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return ours.run(**ours.validate(ours.keyword_arguments(args, kwargs)))

    _Bridged.inputs = inputs
    return _Bridged()


def _smolagents_input(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    kinds = [k for k in kinds if k in _JSON_TYPES and k != "null"]
    entry: dict[str, Any] = {
        "type": kinds[0] if len(kinds) == 1 else "any",
        "description": schema.get("description") or schema.get("title") or "",
    }
    if not required:
        entry["nullable"] = True
    return entry


class SmolagentsTool(Tool):
    """A smolagents `Tool` as one of ours (for `Agent`, `HfAgent`, the server)."""

    def __init__(self, tool: smolagents.Tool) -> None:
        self.tool = tool
        self.name = tool.name
        self.description = tool.description
        self.parameters = {
            "type": "object",
            "properties": {name: _json_schema(spec) for name, spec in tool.inputs.items()},
            "required": [name for name, spec in tool.inputs.items() if not spec.get("nullable")],
        }

    def run(self, **kwargs: Any) -> Any:
        return self.tool(**kwargs)


def _json_schema(spec: dict[str, Any]) -> dict[str, Any]:
    declared = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    schema: dict[str, Any] = {"description": spec.get("description", "")}
    if all(k in _JSON_TYPES for k in declared):  # image, audio, any: no JSON type constraint
        kinds = [*declared, "null"] if spec.get("nullable") and "null" not in declared else declared
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    return schema


def from_smolagents_tool(tool: smolagents.Tool) -> Tool:
    """A smolagents `Tool` as one of ours."""
    if not isinstance(tool, smolagents.Tool):
        raise TypeError(f"expected a smolagents.Tool, got {type(tool).__name__}")
    return SmolagentsTool(tool)


__all__ = ["QwenModel", "SmolagentsTool", "from_smolagents_tool", "to_qwen_messages", "to_smolagents_tool"]
