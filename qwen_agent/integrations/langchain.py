"""LangChain wrappers over any qwen_agent `LLM` (needs only `langchain-core`: `pip install 'qwen_agent[langchain]'`).

- `QwenAgentLLM`: a LangChain text-completion `LLM` (`invoke(prompt, stop=[...])`, streaming). Use it in a
  classic ReAct chain with `stop=["\\nObservation:"]`.
- `ChatQwenAgent`: a `BaseChatModel` whose `bind_tools` gives `AIMessage.tool_calls` to text-only models,
  through qwen_agent's function calling in the model's own tool format; streaming; `with_structured_output` via a forced call.
- `to_langchain_tool` / `from_langchain_tool`: tools both ways.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing
from operator import itemgetter
from typing import Any

from qwen_agent.errors import ConfigurationError, MissingDependencyError, ToolArgumentError
from qwen_agent.function_calling import (
    FunctionCallingRequest,
    ToolCallStream,
    ToolChoice,
    build_request,
    resolve_tool_format,
)
from qwen_agent.integrations.response_format import ResponseFormat
from qwen_agent.llm.base import LLM as QwenLLM
from qwen_agent.schema import Chunk, GenerationConfig, Message, ToolCall, ToolSpec, Usage, new_call_id
from qwen_agent.text import text_of_parts
from qwen_agent.tools.base import Tool, check_tool_name

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.language_models import BaseChatModel, LanguageModelInput, ModelProfile
    from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
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
    from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, GenerationChunk
    from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
    from langchain_core.tools import BaseTool, StructuredTool, ToolException
    from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
    from langchain_core.utils.pydantic import is_basemodel_subclass
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
    model's chat template renders, Hermes `<tool_call>` by default; any other name in
    `qwen_agent.formats.FORMATS`, "react" with `lang`); the calls it writes come back as `AIMessage.tool_calls`, its reasoning as
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

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        method: str = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as `schema` (a pydantic class, TypedDict, or JSON schema dict).

        `method`: "function_calling" (a forced call to a tool shaped like the schema, the default),
        "json_schema" (the model is asked for one JSON object matching the schema; the answer's object is
        read and validated) or "json_mode" (one JSON object; the prompt says which keys). `strict` is
        accepted for LangChain's signature; nothing here constrains decoding, the parser validates.
        """
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_schema", "json_mode"):
            raise ValueError(f"unknown method {method!r}: use 'function_calling', 'json_schema' or 'json_mode'")
        if kwargs:
            raise ValueError(f"unsupported arguments {sorted(kwargs)}")
        llm = self.bind(
            response_format=_openai_response_format(schema, method),
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        )
        parser = _json_parser(schema)
        if not include_raw:
            return llm | parser
        with_parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | with_parsed.with_fallbacks([fallback], exception_key="parsing_error")

    def _resolve_model_profile(self) -> ModelProfile | None:
        """What every model behind this wrapper can do: text in and out, tool calls in the model's own format
        (forced ones included, streamed as whole calls), and `response_format` answers (so `create_agent`
        picks its provider strategy)."""
        profile: ModelProfile = {
            "text_inputs": True, "text_outputs": True, "image_inputs": False, "audio_inputs": False,
            "pdf_inputs": False, "video_inputs": False, "tool_calling": True, "tool_choice": True,
            "tool_call_streaming": True, "structured_output": True,
        }
        window = self.llm.context_window
        if window is not None:
            profile["max_input_tokens"] = window
        return profile

    # --- hooks: the sync and async sides share everything but the backend call --------------------------
    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        req, prompt, stops, config = self._prepare(messages, stop, kwargs)
        return self._result(req, self.llm.generate(prompt, stop=stops, config=config), kwargs)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
        req, prompt, stops, config = self._prepare(messages, stop, kwargs)
        return self._result(req, await self.llm.agenerate(prompt, stop=stops, config=config), kwargs)

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        req, prompt, stops, config = self._prepare(messages, stop, kwargs)
        turn = _StreamedTurn(req, _response_format(kwargs), self._metadata)
        for chunk in self.llm.stream(prompt, stop=stops, config=config):
            for out in turn.feed(chunk):
                if run_manager and out.text:
                    run_manager.on_llm_new_token(out.text, chunk=out)
                yield out
        yield from turn.finish()

    async def _astream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        req, prompt, stops, config = self._prepare(messages, stop, kwargs)
        turn = _StreamedTurn(req, _response_format(kwargs), self._metadata)
        async with aclosing(self.llm.astream(prompt, stop=stops, config=config)) as chunks:
            async for chunk in chunks:
                for out in turn.feed(chunk):
                    if run_manager and out.text:
                        await run_manager.on_llm_new_token(out.text, chunk=out)
                    yield out
        for out in turn.finish():
            yield out

    def _result(self, req: FunctionCallingRequest, gen: Any, kwargs: dict[str, Any]) -> ChatResult:
        turn = req.read(gen.text, gen.usage)
        message = AIMessage(
            content=_answer_text(turn.message, _response_format(kwargs)),
            additional_kwargs=_reasoning_kwargs(turn.message),
            tool_calls=[_lc_tool_call(c) for c in turn.message.tool_calls or [] if _args(c) is not None],
            invalid_tool_calls=[_lc_invalid_call(c) for c in turn.message.tool_calls or [] if _args(c) is None],
            usage_metadata=_usage_metadata(gen.usage),
            response_metadata=self._metadata(turn.message, gen.finish_reason),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _prepare(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[FunctionCallingRequest, list[Message], list[str], GenerationConfig]:
        specs = [ToolSpec.from_openai(t) for t in kwargs.get("tools") or []]
        fmt = resolve_tool_format(self.tool_format, self.llm, self.lang)  # type: ignore[arg-type]
        parallel = kwargs.get("parallel_tool_calls", self.parallel_tool_calls)
        req = build_request(fmt, specs, kwargs.get("tool_choice"), parallel)
        conversation = [to_qwen_message(m) for m in messages]
        json_answer = _response_format(kwargs)
        if json_answer is not None:
            conversation = _with_system_note(conversation, json_answer.instruction())
        rendered = req.render(conversation, stop or self.stop or [])
        return req, rendered.prompt, list(rendered.stop), self._qwen_config(kwargs)

    def _metadata(self, message: Message, finish: str | None) -> dict[str, Any]:
        reason = "tool_calls" if message.tool_calls else (finish or "stop")
        return {"finish_reason": reason, "model_name": self._qwen_model_name(), "model_provider": "qwen_agent"}


class _StreamedTurn:
    """One streamed chat turn: backend chunks in, LangChain chunks out. Text streams as it comes (a JSON answer
    is normalised whole at the end); each call comes whole at the end, in its own chunk with its own index and
    id, so LangChain never merges two calls; the last chunk carries usage and metadata."""

    def __init__(self, req: FunctionCallingRequest, json_answer: ResponseFormat | None,
                 metadata: Callable[[Message, str | None], dict[str, Any]]) -> None:
        self.reader = ToolCallStream(req)
        self.json_answer = json_answer
        self.metadata = metadata
        self.last = Chunk()

    def feed(self, chunk: Chunk) -> list[ChatGenerationChunk]:
        self.last = chunk if chunk.finish_reason else self.last
        text = self.reader.feed(chunk.text)
        return [_text_chunk(text)] if text and self.json_answer is None else []

    def finish(self) -> list[ChatGenerationChunk]:
        rest, turn = self.reader.finish(self.last.usage)
        if self.json_answer is not None and not turn.message.tool_calls:
            rest = _answer_text(turn.message, self.json_answer)
        out = [_text_chunk(rest)] if rest else []
        for i, call in enumerate(turn.message.tool_calls or []):
            piece = {"name": call.name, "args": call.arguments, "id": call.id, "index": i, "type": "tool_call_chunk"}
            out.append(ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[piece])))
        final = AIMessageChunk(
            content="", additional_kwargs=_reasoning_kwargs(turn.message),
            usage_metadata=_usage_metadata(self.last.usage),
            response_metadata=self.metadata(turn.message, self.last.finish_reason), chunk_position="last",
        )
        return [*out, ChatGenerationChunk(message=final)]


def _text_chunk(text: str) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(content=text))


def _openai_response_format(schema: dict[str, Any] | type, method: str) -> dict[str, Any]:
    if method == "json_mode":
        return {"type": "json_object"}
    json_schema = convert_to_json_schema(schema)
    return {"type": "json_schema", "json_schema": {"name": json_schema.get("title", "response"), "schema": json_schema}}


def _json_parser(schema: dict[str, Any] | type) -> Runnable[Any, Any]:
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        return PydanticOutputParser(pydantic_object=schema)
    return JsonOutputParser()


def _response_format(kwargs: dict[str, Any]) -> ResponseFormat | None:
    return ResponseFormat.parse(kwargs.get("response_format"))


def _answer_text(message: Message, json_answer: ResponseFormat | None) -> str:
    """The message's content; with a `response_format` and no tool call, the JSON object it holds."""
    content = message.content or ""
    if json_answer is None or message.tool_calls:
        return content
    return json_answer.answer_text(content)


def _with_system_note(conversation: list[Message], note: str) -> list[Message]:
    """`conversation` with `note` at the end of its system turn (a new one when it has none)."""
    if conversation and conversation[0].role == "system":
        head = conversation[0]
        joined = f"{head.content}\n\n{note}" if head.content else note
        return [head.model_copy(update={"content": joined}), *conversation[1:]]
    return [Message.system(note), *conversation]


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
    if isinstance(message, AIMessage):  # first: its content may hold tool-call blocks, which `_text` refuses
        return _assistant_message(message)
    text = _text(message.content)
    if isinstance(message, SystemMessage):
        return Message.system(text)
    if isinstance(message, HumanMessage):
        return Message.user(text)
    if isinstance(message, ToolMessage):
        return Message.tool(text, tool_call_id=message.tool_call_id, name=message.name)
    if isinstance(message, FunctionMessage):
        return Message.tool(text, name=message.name)
    if isinstance(message, ChatMessage) and message.role in ("system", "user", "assistant", "tool"):
        return Message(role=message.role, content=text)  # type: ignore[arg-type]
    raise ValueError(f"unsupported message type {type(message).__name__} for ChatQwenAgent")


#: blocks of an AIMessage's list content that repeat what `tool_calls` and the reasoning already hold
# (Anthropic's "tool_use", LangChain v1's "tool_call" and "reasoning")
_ASSISTANT_ONLY_BLOCKS = frozenset({"tool_use", "tool_call", "tool_call_chunk", "invalid_tool_call", "reasoning"})


def _assistant_message(message: AIMessage) -> Message:
    calls = [ToolCall(name=c["name"], arguments=json.dumps(c["args"], ensure_ascii=False), id=c.get("id") or new_call_id())
             for c in message.tool_calls]
    reasoning = message.additional_kwargs.get("reasoning_content")
    if reasoning is None and isinstance(message.content, list):
        blocks = [b.get("reasoning", "") for b in message.content if isinstance(b, dict) and b.get("type") == "reasoning"]
        reasoning = "".join(blocks) or None
    text = _text(message.content, skip=_ASSISTANT_ONLY_BLOCKS)
    return Message.assistant(text or None, calls or None, reasoning)


def _text(content: Any, skip: frozenset[str] = frozenset()) -> str:
    return text_of_parts(content, skip=skip) or ""


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
