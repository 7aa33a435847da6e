"""OpenTelemetry traces of episodes, after the GenAI semantic conventions: one `invoke_agent` span per episode,
a `chat {model}` span per model turn and an `execute_tool {name}` span per tool call beneath it, and the
loop's decisions (`notice` steps) as events on the episode's span.

Tracing is on when the application has imported `opentelemetry` and set a tracer provider (the CLI does so from
the `OTEL_*` variables, see `telemetry.setup`). Otherwise nothing here imports it, and the agent's hooks cost an
attribute test each. Prompt and completion text, tool arguments and results are recorded only when
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` (the conventions' opt-in; they may hold secrets).

A turn's seconds and time to first token are the planner's own (`Turn.seconds`, `Turn.first_token_seconds`: the
first streamed text, so known when the planner streams).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qwen_agent.schema import Message, Step, ToolCall, Turn, Usage
from qwen_agent.telemetry.model_metrics import AGENT_METRICS, RequestClock

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SCOPE = "qwen_agent"

def tracer() -> Any | None:
    """The OpenTelemetry tracer when tracing is on, else None (and `opentelemetry` is not imported)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:  # nobody imported it, so nobody set a provider
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer(SCOPE)


def capture_content() -> bool:
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in ("true", "1")


class Episode:
    """One episode's telemetry: the agent span (when tracing is on) and the process's agent metrics.

    The agent's drivers hold it with `with` for the episode, and call `model_turn` around each model ask,
    `current` around each tool batch (so tool spans, in their threads too, are children of the episode) and
    `step` for each step (`steps` wraps an iterator of them)."""

    def __init__(self, model: str, tool_format: Callable[[], str], agent_name: str = "qwen_agent") -> None:
        """`tool_format` is called for the format's name only when tracing."""
        self.model = model
        self.tool_format = ""
        self.usage = Usage()
        self.turns = 0
        self._tracer = tracer()
        self.span: Any = None
        self.capture = False
        if self._tracer is not None:
            self.capture = capture_content()
            self.tool_format = tool_format()
            self.span = self._tracer.start_span(f"invoke_agent {agent_name}", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent_name,
                "gen_ai.request.model": model, "qwen_agent.tool_format": self.tool_format})

    @contextmanager
    def current(self) -> Iterator[None]:
        """The episode's span is the current one inside this block (no-op when not tracing)."""
        if self.span is None:
            yield
            return
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(self.span))
        try:
            yield
        finally:
            context.detach(token)

    def __enter__(self) -> Episode:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        self.end(None if kind is GeneratorExit else error)  # GeneratorExit: the consumer stopped early

    def steps(self, steps: Iterator[Step]) -> Iterator[Step]:
        """`steps`, each passed to `step` first."""
        for step in steps:
            self.step(step)
            yield step

    @contextmanager
    def model_turn(self, messages: Sequence[Message]) -> Iterator[TurnRecord]:
        """Around one model ask; call the yielded record with the turn the model gave (then `record.turn`)."""
        started = time.monotonic()
        span, attached = self._start_turn_span(messages)
        got = TurnRecord()
        try:
            yield got
        except BaseException as e:
            if span is not None:
                _fail(span, type(e).__name__, str(e))
            raise
        finally:
            if got.turn is not None:  # a custom planner may not time its turn: then the time around it
                turn = got.turn
                self._finish_turn(turn, turn.seconds or time.monotonic() - started, turn.first_token_seconds, span)
            if span is not None:
                from opentelemetry import context

                context.detach(attached)
                span.end()

    def _start_turn_span(self, messages: Sequence[Message]) -> tuple[Any, Any]:
        if self._tracer is None:
            return None, None
        from opentelemetry import context, trace

        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": self.model,
                                 "qwen_agent.tool_format": self.tool_format, "qwen_agent.turn.index": self.turns}
        if self.capture:
            attrs["gen_ai.input.messages"] = json.dumps([_message_parts(m) for m in messages], ensure_ascii=False)
        parent = trace.set_span_in_context(self.span)
        span = self._tracer.start_span(f"chat {self.model}", context=parent, kind=trace.SpanKind.CLIENT,
                                       attributes=attrs)
        return span, context.attach(trace.set_span_in_context(span))

    def _finish_turn(self, turn: Turn, seconds: float, first: float | None, span: Any) -> None:
        self.turns += 1
        self.usage = self.usage + turn.usage
        finish = "tool_calls" if turn.message.tool_calls else "stop"
        AGENT_METRICS.model.record(self.model, turn.usage, finish, seconds, first)
        if span is None:
            return
        u = turn.usage
        span.set_attributes({"gen_ai.usage.input_tokens": u.prompt_tokens, "gen_ai.usage.output_tokens":
                             u.completion_tokens, "gen_ai.usage.cache_read.input_tokens": u.cached_tokens,
                             "gen_ai.response.finish_reasons": [finish],
                             "qwen_agent.tool_calls": len(turn.message.tool_calls or [])})
        if first is not None:
            span.set_attribute("gen_ai.response.time_to_first_chunk", first)
        if self.capture:
            span.set_attribute("gen_ai.output.messages", json.dumps([_message_parts(turn.message)], ensure_ascii=False))

    def step(self, step: Step) -> None:
        """A step of the episode: the loop's decisions become events on the episode's span."""
        if self.span is None:
            return
        if step.kind == "notice":
            attrs = {"qwen_agent.reason": step.reason or "", "qwen_agent.step.index": step.index}
            if step.tool_call is not None:
                attrs |= {"gen_ai.tool.name": step.tool_call.name, "gen_ai.tool.call.id": step.tool_call.id}
            self.span.add_event(step.decision or "notice", attrs)
        elif step.kind in ("final", "stopped"):
            self.span.set_attributes({"qwen_agent.end": step.kind, "qwen_agent.end.reason": step.reason or ""})

    def end(self, error: BaseException | None = None) -> None:
        """The episode ended (its last step was given, or it raised or was closed early)."""
        if self.span is None:
            return
        self.span.set_attributes({"gen_ai.usage.input_tokens": self.usage.prompt_tokens,
                                  "gen_ai.usage.output_tokens": self.usage.completion_tokens,
                                  "qwen_agent.turns": self.turns})
        if error is not None:
            _fail(self.span, type(error).__name__, str(error))
        self.span.end()
        self.span = None


class TurnRecord:
    """What the driver got from the model inside `Episode.model_turn`."""

    def __init__(self) -> None:
        self.turn: Turn | None = None

    def __call__(self, turn: Turn) -> None:
        self.turn = turn


class ToolRecord:
    """Filled in by the tool runner while a call runs: the tool's name once resolved, and how it ended."""

    def __init__(self) -> None:
        self.tool: str | None = None
        self.error_type: str | None = None
        self.result: str | None = None


@contextmanager
def tool_call(call: ToolCall) -> Iterator[ToolRecord]:
    """Around one tool call: an `execute_tool` span under the current span (when tracing), and the metrics."""
    record = ToolRecord()
    start = time.monotonic()
    tr = tracer()
    span = None
    if tr is not None:
        from opentelemetry import context, trace

        attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name,
                                 "gen_ai.tool.call.id": call.id, "gen_ai.tool.type": "function",
                                 "qwen_agent.tool.arguments_bytes": len(call.arguments.encode("utf-8"))}
        if capture_content():
            attrs["gen_ai.tool.call.arguments"] = call.arguments
        span = tr.start_span(f"execute_tool {call.name}", attributes=attrs)
        token = context.attach(trace.set_span_in_context(span))  # work inside (in threads too) nests here
    try:
        yield record
    except BaseException as e:  # cancelled, or the runner itself failed
        record.error_type = record.error_type or type(e).__name__
        raise
    finally:
        failed = record.error_type is not None
        AGENT_METRICS.tools.record(record.tool or "unknown", failed, time.monotonic() - start)
        if span is not None:
            context.detach(token)
            if failed:
                _fail(span, record.error_type, (record.result or "")[:500])
            if record.result is not None and capture_content():
                span.set_attribute("gen_ai.tool.call.result", record.result)
            span.end()


def _fail(span: Any, error_type: str | None, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type or "error")
    span.set_status(Status(StatusCode.ERROR, description))


def _message_parts(message: Message) -> dict[str, Any]:
    """A message in the conventions' shape for `gen_ai.input.messages` / `gen_ai.output.messages`."""
    parts: list[dict[str, Any]] = []
    if message.reasoning_content:
        parts.append({"type": "reasoning", "content": message.reasoning_content})
    if message.role == "tool":
        parts.append({"type": "tool_call_response", "id": message.tool_call_id, "response": message.content})
    elif message.content:
        parts.append({"type": "text", "content": message.content})
    for call in message.tool_calls or []:
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments})
    return {"role": message.role, "parts": parts}


def server_span(operation: str, model: str, clock: RequestClock, usage: Usage, finish: str) -> None:
    """A finished `{operation} {model}` server span for one request the server answered, under the caller's
    trace when its headers carry one (W3C `traceparent`); nothing when not tracing."""
    tr = tracer()
    if tr is None:
        return
    from opentelemetry import propagate, trace

    parent = propagate.extract(dict(clock.headers or {}))
    attrs: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.request.model": model,
                             "gen_ai.usage.input_tokens": usage.prompt_tokens,
                             "gen_ai.usage.output_tokens": usage.completion_tokens,
                             "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
                             "gen_ai.response.finish_reasons": [finish]}
    if clock.first is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = clock.first
    span = tr.start_span(f"{operation} {model}", context=parent, kind=trace.SpanKind.SERVER,
                         start_time=clock.wall_start_ns, attributes=attrs)
    span.end(end_time=clock.wall_start_ns + int(clock.elapsed() * 1e9))


def trace_headers() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`) for an outgoing request; {} when not tracing."""
    if tracer() is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
