"""The OpenAI-compatible HTTP API over any `LLM`: /v1/chat/completions (with function calling), /v1/completions,
/v1/models. Built with FastAPI; `create_app` returns the ASGI app, `qwen_agent.server.run` serves it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from qwen_agent.access import bearer_problem
from qwen_agent.errors import ContextLengthError, MissingDependencyError, ModelError, QwenAgentError
from qwen_agent.formats import ToolFormat
from qwen_agent.function_calling import FunctionCallingRequest, ToolCallStream, resolve_tool_format
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.prompts.chatml import render_chatml
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import GenerationConfig, Message, Usage
from qwen_agent.server import protocol as p
from qwen_agent.server.metrics import CountRequests, ServerMetrics
from qwen_agent.server.openapi import install_openapi
from qwen_agent.server.request_limits import Limits, RequestLimitsMiddleware, cap_token_counter
from qwen_agent.server.worker import ModelWorker
from qwen_agent.settings import DEFAULT_MODEL
from qwen_agent.telemetry.metrics import CONTENT_TYPE
from qwen_agent.telemetry.model_metrics import RequestClock
from qwen_agent.telemetry.tracing import server_span

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("fastapi", "server", "The OpenAI-compatible server") from e

TokenCounter = Callable[[str], int]
logger = logging.getLogger("qwen_agent.server")


@dataclass
class _Server:
    llm: LLM
    worker: ModelWorker
    model_name: str
    api_key: str | None
    context_window: int | None
    count_tokens: TokenCounter
    tool_format: ToolFormat
    created: int
    metrics: ServerMetrics

    def record(self, clock: RequestClock, usage: Usage, finished_reason: str | None, operation: str) -> None:
        """A request the model finished: its metrics, and its span when tracing."""
        finish = finished_reason or "stop"
        self.metrics.model.record(self.model_name, usage, finish, clock.elapsed(), clock.first)
        server_span(operation, self.model_name, clock, usage, finish)


def create_app(
    llm: LLM,
    *,
    model_name: str | None = None,
    api_key: str | None = None,
    context_window: int | None = None,
    count_tokens: TokenCounter | None = None,
    tool_format: str | ToolFormat | None = None,
    lang: Lang | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """An OpenAI-compatible ASGI app serving `llm`.

    Args:
        llm: any backend; its calls are serialised on one worker thread.
        model_name: the id clients send as `model` (others get 404); default `llm.model_name`.
        api_key: when set, requests must send `Authorization: Bearer <api_key>` (401 otherwise).
        context_window: when set, prompts whose tokens plus `max_tokens` exceed it get a 400
            `context_length_exceeded`; default `llm.context_window` when the backend has one (a local
            checkpoint's own limit).
        count_tokens: counts prompt tokens for that check; default `llm.count_tokens` when the backend has
            one, else an estimate of one token per 4 bytes of UTF-8.
        tool_format: how `tools` requests are shown to the model and its calls read: a name in
            `qwen_agent.formats.FORMATS` ("auto", "hermes", ...; see `function_calling.resolve_tool_format`).
        lang: a shortcut for ReAct in that language when no tool_format is given.
        limits: request body size, JSON depth and body deadline (`Limits()` by default).
    """
    counter = count_tokens or llm.count_tokens
    window = context_window if context_window is not None else llm.context_window
    if window is not None:
        counter = cap_token_counter(counter, window)
    fmt = resolve_tool_format(tool_format, llm, lang)
    worker, name = ModelWorker(llm), model_name or llm.model_name
    state = _Server(llm, worker, name, api_key, window, counter, fmt, int(time.time()), ServerMetrics(worker, name))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.worker.close()

    app = FastAPI(title="qwen_agent OpenAI-compatible server", lifespan=lifespan)
    app.state.qwen = state
    # also answers errors no handler took, and refuses keyless bodies unread
    app.add_middleware(RequestLimitsMiddleware, limits=limits, api_key=api_key)
    app.add_middleware(CountRequests, metrics=state.metrics)  # outermost: sees the refusals too
    _add_error_handlers(app)
    _add_routes(app, state)
    install_openapi(app, state.model_name)
    return app


def _add_routes(app: FastAPI, state: _Server) -> None:
    @app.get("/v1/models", response_model=None)
    async def list_models(request: Request) -> JSONResponse:
        _check_auth(state, request)
        return JSONResponse({"object": "list", "data": [_model_card(state)]})

    @app.get("/v1/models/{model_id:path}", response_model=None)
    async def get_model(model_id: str, request: Request) -> JSONResponse:
        _check_auth(state, request)
        _check_model(state, model_id)
        return JSONResponse(_model_card(state))

    @app.get("/health", include_in_schema=False)
    async def health() -> Response:
        """200 while the server runs, with no key and no body: what load balancers and routers poll (vLLM's
        and SGLang's servers answer the same path)."""
        return Response(status_code=200)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        _check_auth(state, request)  # the key guards /metrics too: it tells the load and the model served
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Any:
        _check_auth(state, request)
        req = p.validate(p.ChatCompletionRequest, await _json_body(request))
        return await _chat(state, req, RequestClock(request.headers))

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        _check_auth(state, request)
        req = p.validate(p.CompletionRequest, await _json_body(request))
        return await _completion(state, req, RequestClock(request.headers))


# --- request plumbing ---------------------------------------------------------------------------------------
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(p.APIError)
    async def api_error(request: Request, exc: p.APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = p.APIError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None)
        return JSONResponse(err.body(), status_code=exc.status_code)

    @app.exception_handler(QwenAgentError)
    async def backend_error(request: Request, exc: QwenAgentError) -> JSONResponse:
        err = _model_failure(exc)
        return JSONResponse(err.body(), status_code=err.status)


def _model_failure(exc: BaseException) -> p.APIError:
    if isinstance(exc, p.APIError):
        return exc
    if isinstance(exc, ContextLengthError):
        return p.APIError(400, str(exc), param="messages", code="context_length_exceeded")
    logger.error("request failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
    if isinstance(exc, ModelError | QwenAgentError):
        return p.APIError(500, f"the model backend failed: {exc}", type="server_error")
    return p.APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error")


def _check_auth(state: _Server, request: Request) -> None:
    if state.api_key is None:
        return
    problem = bearer_problem(request.headers.get("authorization", ""), state.api_key)
    if problem:
        raise p.APIError(401, problem, code="invalid_api_key")


def _check_model(state: _Server, model: str | None) -> None:
    """The one served model answers to its id, to no model, and to the `qwen-agent` CLI's default name (so
    `qwen-agent run` reaches `qwen-agent serve --model /some/path` without repeating the path)."""
    if model and model not in (state.model_name, DEFAULT_MODEL):
        raise p.APIError(404, f"the model {model!r} does not exist; this server serves {state.model_name!r}",
                         param="model", code="model_not_found")


def _model_card(state: _Server) -> dict[str, Any]:
    return {"id": state.model_name, "object": "model", "created": state.created, "owned_by": "qwen_agent"}


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise p.APIError(400, f"the request body is not valid JSON: {e}") from None


def _check_context(state: _Server, prompt: Prompt, requested: int | None, param: str) -> int:
    """Prompt tokens; raises 400 context_length_exceeded when prompt plus requested completion do not fit."""
    text = prompt if isinstance(prompt, str) else render_chatml(prompt)
    n = state.count_tokens(text)
    window = state.context_window
    if window is not None and n + (requested or 0) > window:
        extra = f" ({n} in the prompt, {requested} for the completion)" if requested else ""
        raise p.APIError(
            400,
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{n + (requested or 0)} tokens{extra}. Please reduce the length of the {param}.",
            param=param, code="context_length_exceeded",
        )
    return n


def _usage(usage: Usage | None, prompt_tokens: int) -> Usage:
    u = usage or Usage()
    return u if u.prompt_tokens else u.model_copy(update={"prompt_tokens": prompt_tokens})


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# --- /v1/chat/completions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ChatPlan:
    fc: FunctionCallingRequest
    prompt: list[Message]
    stop: list[str]
    config: GenerationConfig
    legacy: bool
    prompt_tokens: int


def _plan_chat(state: _Server, req: p.ChatCompletionRequest) -> _ChatPlan:
    _check_model(state, req.model)
    messages = p.parse_messages(req.messages)
    fc = p.function_calling_request(req, state.tool_format)
    if req.continue_final_message:
        if messages[-1].role != "assistant" or messages[-1].tool_calls:
            raise p.APIError(400, "continue_final_message needs a last assistant message with text content",
                             param="messages")
        if fc.uses_tools:
            raise p.APIError(400, "continue_final_message cannot be combined with tools",
                             param="continue_final_message")
    if not any(m.role == "user" for m in messages):
        raise p.APIError(400, "messages must contain at least one user message", param="messages")
    rendered = fc.render(messages, req.stop_list())
    n = _check_context(state, rendered.prompt, req.requested_max_tokens, "messages")
    return _ChatPlan(fc, rendered.prompt, list(rendered.stop), req.config(state.llm.default_config),
                     req.legacy_functions, n)


async def _chat(state: _Server, req: p.ChatCompletionRequest, clock: RequestClock) -> Any:
    plan = _plan_chat(state, req)
    rid = p.new_id("chatcmpl")
    if req.stream:
        return _sse_response(_chat_events(state, plan, rid, req.include_usage, clock))
    gen = await state.worker.generate(plan.prompt, plan.stop, plan.config)
    state.record(clock, _usage(gen.usage, plan.prompt_tokens), gen.finish_reason, "chat")
    turn = plan.fc.read(gen.text, gen.usage)
    body = p.envelope("chat", rid, state.model_name)
    body["choices"] = [{
        "index": 0,
        "message": p.message_body(turn.message, plan.legacy),
        "logprobs": None,
        "finish_reason": p.finish_reason(turn.message, gen.finish_reason, plan.legacy),
    }]
    body["usage"] = p.usage_body(_usage(gen.usage, plan.prompt_tokens))
    return JSONResponse(body)


async def _chat_events(state: _Server, plan: _ChatPlan, rid: str, include_usage: bool,
                       clock: RequestClock) -> AsyncIterator[str]:
    head = p.envelope("chat.chunk", rid, state.model_name)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _sse({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    reader = ToolCallStream(plan.fc)
    finish: str | None = None
    usage: Usage | None = None
    try:
        async for c in state.worker.stream(plan.prompt, plan.stop, plan.config):
            if c.text:
                clock.first_token()
            thought, text = reader.feed_parts(c.text)
            if thought:
                yield chunk(p.reasoning_delta(thought))
            if text:
                yield chunk({"content": text})
            finish, usage = c.finish_reason or finish, c.usage or usage
        thought, rest, turn = reader.finish_parts(usage)
        if thought:
            yield chunk(p.reasoning_delta(thought))
        if rest:
            yield chunk({"content": rest})
        for delta in p.tool_call_deltas(turn.message, plan.legacy):
            yield chunk(delta)
        yield chunk({}, p.finish_reason(turn.message, finish, plan.legacy))
        state.record(clock, _usage(usage, plan.prompt_tokens), finish, "chat")
        if include_usage:
            yield _sse({**head, "choices": [], "usage": p.usage_body(_usage(usage, plan.prompt_tokens))})
    except Exception as e:  # noqa: BLE001 - headers are sent: report in-band, as OpenAI does
        yield _sse(_model_failure(e).body())
    yield "data: [DONE]\n\n"


# --- /v1/completions ----------------------------------------------------------------------------------------
async def _completion(state: _Server, req: p.CompletionRequest, clock: RequestClock) -> Any:
    _check_model(state, req.model)
    prompt = req.prompt_text()
    n = _check_context(state, prompt, req.requested_max_tokens, "prompt")
    config, stop, rid = req.config(state.llm.default_config), req.stop_list(), p.new_id("cmpl")
    echo = prompt if req.echo else ""
    if req.stream:
        return _sse_response(_completion_events(state, prompt, stop, config, rid, req.include_usage, n, echo, clock))
    gen = await state.worker.generate(prompt, stop, config)
    state.record(clock, _usage(gen.usage, n), gen.finish_reason, "text_completion")
    body = p.envelope("text", rid, state.model_name)
    body["choices"] = [{"index": 0, "text": echo + gen.text, "logprobs": None, "finish_reason": gen.finish_reason}]
    body["usage"] = p.usage_body(_usage(gen.usage, n))
    return JSONResponse(body)


async def _completion_events(
    state: _Server, prompt: str, stop: Sequence[str], config: GenerationConfig, rid: str,
    include_usage: bool, prompt_tokens: int, echo: str, clock: RequestClock,
) -> AsyncIterator[str]:
    head = p.envelope("text", rid, state.model_name)

    def chunk(text: str, finish: str | None = None) -> str:
        return _sse({**head, "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]})

    if echo:
        yield chunk(echo)
    usage: Usage | None = None
    finish: str | None = None
    try:
        async for c in state.worker.stream(prompt, stop, config):
            usage, finish = c.usage or usage, c.finish_reason or finish
            if c.text:
                clock.first_token()
            if c.text or c.finish_reason:
                yield chunk(c.text, c.finish_reason)
        state.record(clock, _usage(usage, prompt_tokens), finish, "text_completion")
        if include_usage:
            yield _sse({**head, "choices": [], "usage": p.usage_body(_usage(usage, prompt_tokens))})
    except Exception as e:  # noqa: BLE001 - headers are sent: report in-band
        yield _sse(_model_failure(e).body())
    yield "data: [DONE]\n\n"
