"""LangChain wrappers over any qwen_agent `LLM` (needs only `langchain-core`: `pip install 'qwen_agent[langchain]'`).

- `QwenAgentLLM`: a LangChain text-completion `LLM` (`invoke(prompt, stop=[...])`, streaming). Use it in a
  classic ReAct chain with `stop=["\\nObservation:"]`.
- `ChatQwenAgent`: a `BaseChatModel` whose `bind_tools` gives `AIMessage.tool_calls` to text-only models,
  through qwen_agent's function calling in the model's own tool format; streaming; `with_structured_output` via a forced call.
- `to_langchain_tool` / `from_langchain_tool`: tools both ways.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from qwen_agent.errors import ConfigurationError, MissingDependencyError, ToolArgumentError
from qwen_agent.function_calling import (
    FunctionCallingRequest,
    ToolCallStream,
    ToolChoice,
    build_request,
    resolve_tool_format,
)
from qwen_agent.llm.base import LLM as QwenLLM
from qwen_agent.schema import Chunk, GenerationConfig, Message, ToolCall, ToolSpec, Usage, new_call_id
from qwen_agent.tools.base import Tool, check_tool_name

try:
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.language_models import BaseChatModel, LanguageModelInput
    from langchain_core.language_models.llms import LLM as LangChainLLM
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ChatMessage,
        FunctionMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, GenerationChunk
    from langchain_core.runnables import Runnable
    from langchain_core.tools import BaseTool, StructuredTool, ToolException
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from pydantic import BaseModel, ConfigDict, Field, SecretStr
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("langchain-core", "langchain", "The LangChain integration") from e


class _QwenBacked(BaseModel):
    """The backend and sampling settings both wrappers share."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    llm: QwenLLM = Field(exclude=True)
    model_name: str | None = Field(default=None, alias="model")
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self._qwen_model_name(), "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _qwen_config(self, kwargs: dict[str, Any]) -> GenerationConfig:
        base = self.llm.default_config
        update = {}
        for key in ("temperature", "max_tokens", "top_p", "seed"):
            value = kwargs.get(key, getattr(self, key, None))
            if value is not None:
                update[key] = value
        return base.model_copy(update=update)

    def _qwen_model_name(self) -> str:
        return self.model_name or getattr(self.llm, "model_name", None) or "qwen"


# --- text completion ------------------------------------------------------------------------------------------
class QwenAgentLLM(_QwenBacked, LangChainLLM):
    """A LangChain text-completion model over a qwen_agent `LLM` (the prompt is continued as raw text).

    Example:
        >>> llm = QwenAgentLLM(llm=get_llm("transformers", model="Qwen/Qwen-7B-Chat"))
        >>> llm.invoke("Question: ...\\nThought:", stop=["\\nObservation:"])
    """


    @property
    def _llm_type(self) -> str:
        return "qwen_agent"

    def _call(
        self, prompt: str, stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        return self.llm.generate(prompt, stop=stop or [], config=self._qwen_config(kwargs)).text

    def _stream(
        self, prompt: str, stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        for chunk in self.llm.stream(prompt, stop=stop or [], config=self._qwen_config(kwargs)):
            if not chunk.text and chunk.finish_reason is None:
                continue
            info = {"finish_reason": chunk.finish_reason} if chunk.finish_reason else None
            out = GenerationChunk(text=chunk.text, generation_info=info)
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=out)
            yield out


# --- chat -----------------------------------------------------------------------------------------------------
class ChatQwenAgent(_QwenBacked, BaseChatModel):
    """A LangChain chat model over a qwen_agent `LLM`, with tool calling in the model's own format.

    Tools bound with `bind_tools` are described to the model in `tool_format` ("auto": the format the
    model's chat template renders, Hermes `<tool_call>` by default; "hermes", "qwen3_coder", "react" with
    `lang`, or "server"); the calls it writes come back as `AIMessage.tool_calls`, its reasoning as
    `additional_kwargs["reasoning_content"]`, and `ToolMessage`s in the history go back as that format's tool
    results. `timeout`, `max_retries` and `api_key` are accepted for LangChain's standard parameters; they
    belong to the wrapped backend (e.g. `OpenAICompatLLM(timeout=...)`) and are unused here.

    Example:
        >>> chat = ChatQwenAgent(llm=get_llm("openai", model="Qwen2.5-7B-Instruct"))
        >>> chat.bind_tools([get_weather]).invoke("Weather in Paris?").tool_calls
    """

    stop: list[str] | None = None
    tool_format: str = "auto"
    lang: str | None = None
    parallel_tool_calls: bool = True
    streaming: bool = False
    timeout: float | None = None
    max_retries: int | None = None
    api_key: SecretStr | None = None

    @property
    def _llm_type(self) -> str:
        return "qwen_agent-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params: dict[str, Any] = {
            "ls_provider": "qwen_agent",
            "ls_model_name": kwargs.get("model") or self._qwen_model_name(),
            "ls_model_type": "chat",
        }
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool | Tool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, pydantic models, functions, OpenAI dicts or qwen_agent Tools).

        `tool_choice`: "auto", "none", "any"/"required", a tool name, OpenAI's dict, or True (the only tool).
        """
        formatted = [t.spec.to_openai() if isinstance(t, Tool) else convert_to_openai_tool(t) for t in tools]
        if tool_choice is True:
            if len(formatted) != 1:
                raise ValueError("tool_choice=True needs exactly one tool")
            tool_choice = formatted[0]["function"]["name"]
        elif tool_choice is False:
            tool_choice = None
        if tool_choice is not None:
            try:
                ToolChoice.parse(tool_choice).check([ToolSpec.from_openai(t) for t in formatted])
            except ConfigurationError as e:
                raise ValueError(str(e)) from e  # LangChain's contract for a bad binding
            kwargs["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    # --- hooks --------------------------------------------------------------------------------------------
    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return _aggregate(self._stream(messages, stop, run_manager, **kwargs))
        req, prompt, stops, config = self._prepare(messages, stop, kwargs)
        gen = self.llm.generate(prompt, stop=stops, config=config)
        turn = req.read(gen.text, gen.usage)
        message = AIMessage(
            content=turn.message.content or "",
            additional_kwargs=_reasoning_kwargs(turn.message),
            tool_calls=[_lc_tool_call(c) for c in turn.message.tool_calls or [] if _args(c) is not None],
            invalid_tool_calls=[_lc_invalid_call(c) for c in turn.message.tool_calls or [] if _args(c) is None],
            usage_metadata=_usage_metadata(gen.usage),
            response_metadata=self._metadata(turn.message, gen.finish_reason),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        req, prompt, stops, config = self._prepare(messages, stop, kwargs)
        reader = ToolCallStream(req)
        last = Chunk()
        for chunk in self.llm.stream(prompt, stop=stops, config=config):
            last = chunk if chunk.finish_reason else last
            text = reader.feed(chunk.text)
            if text:
                yield _text_chunk(text, run_manager)
        rest, turn = reader.finish(last.usage)
        if rest:
            yield _text_chunk(rest, run_manager)
        calls = [
            {"name": c.name, "args": c.arguments, "id": c.id, "index": i, "type": "tool_call_chunk"}
            for i, c in enumerate(turn.message.tool_calls or [])
        ]
        final = AIMessageChunk(
            content="", tool_call_chunks=calls, additional_kwargs=_reasoning_kwargs(turn.message), usage_metadata=_usage_metadata(last.usage),
            response_metadata=self._metadata(turn.message, last.finish_reason), chunk_position="last",
        )
        yield ChatGenerationChunk(message=final)

    def _prepare(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[FunctionCallingRequest, list[Message], list[str], GenerationConfig]:
        specs = [ToolSpec.from_openai(t) for t in kwargs.get("tools") or []]
        fmt = resolve_tool_format(self.tool_format, self.llm, self.lang)  # type: ignore[arg-type]
        parallel = kwargs.get("parallel_tool_calls", self.parallel_tool_calls)
        req = build_request(fmt, specs, kwargs.get("tool_choice"), parallel)
        rendered = req.render([to_qwen_message(m) for m in messages], stop or self.stop or [])
        return req, rendered.prompt, list(rendered.stop), self._qwen_config(kwargs)

    def _metadata(self, message: Message, finish: str | None) -> dict[str, Any]:
        reason = "tool_calls" if message.tool_calls else (finish or "stop")
        return {"finish_reason": reason, "model_name": self._qwen_model_name(), "model_provider": "qwen_agent"}


def _text_chunk(text: str, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
    out = ChatGenerationChunk(message=AIMessageChunk(content=text))
    if run_manager:
        run_manager.on_llm_new_token(text, chunk=out)
    return out


def _aggregate(chunks: Iterator[ChatGenerationChunk]) -> ChatResult:
    from langchain_core.language_models.chat_models import generate_from_stream

    return generate_from_stream(chunks)


def _reasoning_kwargs(message: Message) -> dict[str, Any]:
    return {"reasoning_content": message.reasoning_content} if message.reasoning_content else {}


def _usage_metadata(usage: Usage | None) -> Any:
    if usage is None:
        return None
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def _args(call: ToolCall) -> dict[str, Any] | None:
    return call.parsed_arguments()


def _lc_tool_call(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "args": _args(call), "id": call.id, "type": "tool_call"}


def _lc_invalid_call(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "args": call.arguments, "id": call.id, "type": "invalid_tool_call",
            "error": "the arguments are not a JSON object"}


# --- messages -------------------------------------------------------------------------------------------------
def to_qwen_message(message: BaseMessage) -> Message:
    """A LangChain message as a qwen_agent `Message` (text content only)."""
    text = _text(message.content)
    if isinstance(message, SystemMessage):
        return Message.system(text)
    if isinstance(message, HumanMessage):
        return Message.user(text)
    if isinstance(message, AIMessage):
        calls = [ToolCall(name=c["name"], arguments=json.dumps(c["args"], ensure_ascii=False), id=c.get("id") or new_call_id())
                 for c in message.tool_calls]
        return Message.assistant(text or None, calls or None, message.additional_kwargs.get("reasoning_content"))
    if isinstance(message, ToolMessage):
        return Message.tool(text, tool_call_id=message.tool_call_id, name=message.name)
    if isinstance(message, FunctionMessage):
        return Message.tool(text, name=message.name)
    if isinstance(message, ChatMessage) and message.role in ("system", "user", "assistant", "tool"):
        return Message(role=message.role, content=text)  # type: ignore[arg-type]
    raise ValueError(f"unsupported message type {type(message).__name__} for ChatQwenAgent")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
        else:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise ValueError(f"content block of type {kind!r} is not supported; only text is")
    return "".join(parts)


# --- tools ----------------------------------------------------------------------------------------------------
def to_langchain_tool(tool: Tool) -> StructuredTool:
    """A qwen_agent Tool as a LangChain tool; bad arguments become a ToolException the agent can read."""

    def run(**kwargs: Any) -> str:
        try:
            return tool.call(kwargs)
        except ToolArgumentError as e:
            raise ToolException(str(e)) from e

    return StructuredTool(name=tool.name, description=tool.description, args_schema=tool.parameters,
                          func=run, handle_tool_error=True)


class LangChainTool(Tool):
    """A LangChain tool seen as a qwen_agent Tool (see `from_langchain_tool`)."""

    def __init__(self, lc_tool: BaseTool) -> None:
        function = convert_to_openai_tool(lc_tool)["function"]
        self.name = check_tool_name(function["name"])
        self.description = function.get("description", "")
        self.parameters = function.get("parameters") or {"type": "object", "properties": {}}
        self.lc_tool = lc_tool

    def run(self, **kwargs: Any) -> Any:
        return self.lc_tool.invoke(kwargs)


def from_langchain_tool(lc_tool: BaseTool) -> Tool:
    """A LangChain tool as a qwen_agent Tool, usable by `Agent`."""
    return LangChainTool(lc_tool)


__all__ = [
    "ChatQwenAgent",
    "LangChainTool",
    "QwenAgentLLM",
    "from_langchain_tool",
    "to_langchain_tool",
    "to_qwen_message",
]
