"""A backend for any OpenAI-compatible server: vLLM, SGLang, Ollama, DashScope's compatible mode, or
`qwen-agent serve`. Text prompts go to `/v1/completions`, message lists to `/v1/chat/completions`.

The sync side uses `openai.OpenAI`, the async side `openai.AsyncOpenAI` (one per event loop: an async HTTP
pool belongs to the loop that opened it), so hundreds of agents share one loop without a thread each. Request
building, reply reading and error translation are written once for both."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from qwen_agent.errors import (
    ConfigurationError,
    ContextLengthError,
    MissingDependencyError,
    ModelConnectionError,
    ModelError,
)
from qwen_agent.formats.template import server_reply_text
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import ChatPrompt, Chunk, Generation, GenerationConfig, Message, Usage
from qwen_agent.telemetry.tracing import trace_headers

_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too long", "max_model_len")


class OpenAICompatLLM(LLM):
    """Talks to an OpenAI-compatible HTTP endpoint through the official `openai` client.

    Args:
        model: the model name the server knows (e.g. "Qwen2.5-7B-Instruct").
        base_url: the endpoint, ending in /v1.
        api_key: sent as a bearer token; local servers usually accept anything.
        timeout: seconds for one HTTP request.
        max_retries: retries, with exponential backoff, on connection errors, 408/409/429 and 5xx.
        config: default generation settings.
        extra_body: extra fields sent with every request (e.g. {"repetition_penalty": 1.05} for vLLM).
        enable_thinking: Qwen3's thinking switch, sent as `chat_template_kwargs` (vLLM, SGLang); None sends
            nothing (the server's default).

    A `ChatPrompt` with tools (tool_format "server") sends them as OpenAI `tools` / `tool_choice`; the
    server's structured reply (its `reasoning_content` or `reasoning`, content, `tool_calls`) comes back as
    the Hermes text the format reads (`<think>`, content, `<tool_call>`), so the text contract holds; each
    call keeps the server's id and arguments (see `server_reply_text`).

    A last assistant message is continued, using the `continue_final_message` flag of vLLM and
    `qwen-agent serve`; servers without it start a new assistant turn instead.
    """

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str = "EMPTY",
        *,
        timeout: float = 120.0,
        max_retries: int = 2,
        config: GenerationConfig | None = None,
        extra_body: dict[str, Any] | None = None,
        enable_thinking: bool | None = None,
    ) -> None:
        super().__init__(config)
        if not model:
            raise ConfigurationError("OpenAICompatLLM needs a model name")
        try:
            import openai
        except ImportError as e:
            raise MissingDependencyError("openai", "all", "The OpenAI-compatible backend") from e
        self._openai = openai
        self.model_name = model
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.extra_body = dict(extra_body or {})
        if enable_thinking is not None:
            kwargs = self.extra_body.setdefault("chat_template_kwargs", {})
            kwargs["enable_thinking"] = enable_thinking
        self._client_args = {"base_url": self.base_url, "api_key": api_key, "timeout": timeout, "max_retries": max_retries}
        self.client = openai.OpenAI(**self._client_args)
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    accepts_openai_tools = True

    # --- hooks --------------------------------------------------------------------------------------------
    def _generate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        with self._errors():
            return _generation(prompt, self._request(self.client, prompt, stop, config, stream=False))

    async def _agenerate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        with self._errors():
            reply = await self._request(self.async_client(), prompt, stop, config, stream=False)
            return _generation(prompt, reply)

    def _stream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Iterator[Chunk]:
        with self._errors():
            events = self._request(self.client, prompt, stop, config, stream=True)
        reader = _EventReader(isinstance(prompt, str))
        try:
            with self._errors():
                for event in events:
                    yield from reader.read(event)
        finally:
            events.close()  # the HTTP stream is dropped, so the server stops generating

    async def _astream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> AsyncIterator[Chunk]:
        with self._errors():
            events = await self._request(self.async_client(), prompt, stop, config, stream=True)
        reader = _EventReader(isinstance(prompt, str))
        try:
            with self._errors():
                async for event in events:
                    for chunk in reader.read(event):
                        yield chunk
        finally:
            await events.close()  # also on cancellation: the connection is not left half-read

    def _close(self) -> None:
        self.client.close()

    async def _aclose(self) -> None:
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def async_client(self) -> Any:
        """The `openai.AsyncOpenAI` client of the running event loop (made on first use in that loop)."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = self._openai.AsyncOpenAI(**self._client_args)
        return client

    # --- helpers ------------------------------------------------------------------------------------------
    def _request(self, client: Any, prompt: Prompt, stop: list[str], config: GenerationConfig, *, stream: bool) -> Any:
        """The create call on either client (the async one returns an awaitable)."""
        # streamed: the token counts come in a last event with no choices
        extra: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        if headers := trace_headers():  # the server's spans join the caller's trace
            extra["extra_headers"] = headers
        if isinstance(prompt, str):
            return client.completions.create(prompt=prompt, **extra, **self._params(stop, config))
        return client.chat.completions.create(**extra, **self._chat_params(prompt, stop, config))

    def _params(self, stop: list[str], config: GenerationConfig) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if stop:
            params["stop"] = stop
        if config.seed is not None:
            params["seed"] = config.seed
        extra = dict(self.extra_body)
        if config.top_k is not None:
            extra["top_k"] = config.top_k
        if config.repetition_penalty != 1.0:  # vLLM's and SGLang's name for transformers' rule
            extra["repetition_penalty"] = config.repetition_penalty
        if extra:
            params["extra_body"] = extra
        return params

    def _chat_params(self, messages: list[Message], stop: list[str], config: GenerationConfig) -> dict[str, Any]:
        params = self._params(stop, config)
        params["messages"] = [m.to_openai() for m in messages]
        if isinstance(messages, ChatPrompt) and messages.tools:
            params["tools"] = [t.to_openai() for t in messages.tools]
            if messages.tool_choice is not None:
                params["tool_choice"] = messages.tool_choice
        if messages[-1].role == "assistant":
            extra = params.setdefault("extra_body", {})
            extra.update(continue_final_message=True, add_generation_prompt=False)
        return params

    def _errors(self) -> _ErrorTranslator:
        return _ErrorTranslator(self)


class _ErrorTranslator:
    """Turns the openai client's exceptions into ours, with messages that say what to do."""

    def __init__(self, llm: OpenAICompatLLM) -> None:
        self.llm = llm

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        openai = self.llm._openai
        url = self.llm.base_url
        if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
            raise ModelConnectionError(
                f"cannot reach the model server at {url} (tried {self.llm.max_retries + 1} times: {exc}). "
                "Is the server running, and is --base-url right?"
            ) from exc
        if isinstance(exc, openai.AuthenticationError):
            raise ConfigurationError(f"the model server at {url} rejected the API key: {_detail(exc)}") from exc
        if isinstance(exc, openai.NotFoundError):
            raise ModelError(
                f"the server at {url} answered 404 for model {self.llm.model_name!r}: {_detail(exc)}. "
                "Check the model name (GET /v1/models lists them) and the endpoint path."
            ) from exc
        if isinstance(exc, openai.BadRequestError) and any(h in _detail(exc).lower() for h in _CONTEXT_HINTS):
            raise ContextLengthError(f"the prompt is too long for {self.llm.model_name}: {_detail(exc)}") from exc
        if isinstance(exc, openai.APIStatusError):
            raise ModelError(f"the model server at {url} answered {exc.status_code}: {_detail(exc)}") from exc
        return False


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))


def _reasoning(obj: Any) -> str:
    """Reasoning as servers name it: `reasoning_content` (vLLM, SGLang, DashScope) or `reasoning` (Ollama)."""
    return getattr(obj, "reasoning_content", None) or getattr(obj, "reasoning", None) or ""


def _reply_text(message: Any) -> str:
    calls = [(c.function.name, c.function.arguments or "", c.id or "") for c in message.tool_calls or []]
    return server_reply_text(message.content or "", _reasoning(message), calls)


def _generation(prompt: Prompt, r: Any) -> Generation:
    choice = r.choices[0]
    text = (choice.text or "") if isinstance(prompt, str) else _reply_text(choice.message)
    return Generation(text=text, finish_reason=_finish(choice.finish_reason), usage=_usage(r.usage))


class _EventReader:
    """Streamed events (completions or chat) as `Chunk`s of the text contract."""

    def __init__(self, completion: bool) -> None:
        self.completion = completion
        self.reply = _StreamedReply()

    def read(self, event: Any) -> Iterator[Chunk]:
        usage = _usage(event.usage) if getattr(event, "usage", None) else None
        for choice in event.choices:
            text = choice.text if self.completion else self.reply.feed(choice.delta)
            finish = _finish(choice.finish_reason) if choice.finish_reason else None
            if finish is not None:
                text += self.reply.finish()
            yield Chunk(text=text or "", finish_reason=finish, usage=usage)
        if not event.choices and usage is not None:
            yield Chunk(usage=usage)


class _StreamedReply:
    """A streamed reply as text: reasoning inside `<think>`, content as it comes, calls whole at the end."""

    def __init__(self) -> None:
        self.thinking = False
        self.calls: dict[int, list[str]] = {}  # index -> [name, arguments, id], each sent in pieces

    def feed(self, delta: Any) -> str:
        out = ""
        reasoning = _reasoning(delta)
        if reasoning:
            out += reasoning if self.thinking else "<think>\n" + reasoning
            self.thinking = True
        if delta.content:
            out += self._end_thinking() + delta.content
        for c in delta.tool_calls or []:
            entry = self.calls.setdefault(c.index or 0, ["", "", ""])
            entry[2] = entry[2] or c.id or ""  # the id comes with a call's first piece
            if c.function is not None:
                entry[0] += c.function.name or ""
                entry[1] += c.function.arguments or ""
        return out

    def finish(self) -> str:
        calls = [(name, args, call_id) for _, (name, args, call_id) in sorted(self.calls.items())]
        self.calls = {}
        return self._end_thinking() + server_reply_text("", "", calls)

    def _end_thinking(self) -> str:
        if not self.thinking:
            return ""
        self.thinking = False
        return "\n</think>\n\n"


def _finish(reason: str | None) -> Any:
    return {"length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls"}.get(reason or "", "stop")


def _usage(u: Any) -> Usage:
    if u is None:
        return Usage()
    details = getattr(u, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(prompt_tokens=u.prompt_tokens or 0, completion_tokens=u.completion_tokens or 0, cached_tokens=cached)
