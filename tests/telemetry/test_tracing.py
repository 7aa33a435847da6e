"""Span trees of scripted episodes (the scripted LLM replays fixed text) with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

from opentelemetry import trace
from opentelemetry.trace import StatusCode

from qwen_agent import Agent, tool
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.telemetry.model_metrics import AGENT_METRICS

TWO_CALLS = ('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>\n'
             '<tool_call>\n{"name": "weather", "arguments": {"city": "Oslo"}}\n</tool_call>')
FINAL = "It is 3, and sunny in Oslo."
seen_in_tool: dict[str, int] = {}  # tool name -> the span id current inside the tool's thread


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    seen_in_tool["add"] = trace.get_current_span().get_span_context().span_id
    time.sleep(0.2)
    return a + b


@tool
def weather(city: str) -> str:
    """The weather of a city."""
    seen_in_tool["weather"] = trace.get_current_span().get_span_context().span_id
    seen_in_tool["weather_thread"] = threading.get_ident()
    time.sleep(0.2)
    return f"{city}: sunny"


def by_name(spans) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in spans:
        out.setdefault(s.name, []).append(s)
    return out


def test_sync_episode_with_two_parallel_calls(exporter) -> None:
    seen_in_tool.clear()
    llm = ScriptedLLM([TWO_CALLS, FINAL])
    agent = Agent(llm, [add, weather], tool_format="hermes")
    result = agent.run_result("what is 1+2, and the weather in Oslo?", on_text=lambda text: None)
    assert result.answer == FINAL

    spans = by_name(exporter.get_finished_spans())
    assert sorted(spans) == ["chat scripted", "execute_tool add", "execute_tool weather", "invoke_agent qwen_agent"]
    (root,) = spans["invoke_agent qwen_agent"]
    assert root.parent is None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["qwen_agent.tool_format"] == "hermes"
    assert root.attributes["qwen_agent.turns"] == 2
    # the scripted model counts a token per character of its reply
    assert root.attributes["gen_ai.usage.output_tokens"] == len(TWO_CALLS) + len(FINAL)
    assert root.attributes["qwen_agent.end"] == "final"
    first, second = sorted(spans["chat scripted"], key=lambda s: s.start_time)
    for turn in (first, second):
        assert turn.parent.span_id == root.context.span_id
        assert turn.kind == trace.SpanKind.CLIENT
        assert turn.attributes["gen_ai.request.model"] == "scripted"
        assert turn.attributes["qwen_agent.tool_format"] == "hermes"
        # streamed (on_text): the first chunk came after the start and before the end of the turn
        assert 0 <= turn.attributes["gen_ai.response.time_to_first_chunk"] <= (turn.end_time - turn.start_time) / 1e9
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert first.attributes["qwen_agent.tool_calls"] == 2
    assert first.attributes["gen_ai.usage.output_tokens"] == len(TWO_CALLS)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.input.messages" not in first.attributes  # content only when opted in

    calls = {m.tool_calls[0].name: m.tool_calls for m in result.messages if m.tool_calls}["add"]
    (a,), (w,) = spans["execute_tool add"], spans["execute_tool weather"]
    for span, call in ((a, calls[0]), (w, calls[1])):
        assert span.parent.span_id == root.context.span_id
        assert span.attributes["gen_ai.tool.call.id"] == call.id
        assert span.attributes["qwen_agent.tool.arguments_bytes"] == len(call.arguments.encode())
        assert span.status.status_code == StatusCode.UNSET
        assert (span.end_time - span.start_time) / 1e9 >= 0.2
    assert a.start_time < w.end_time and w.start_time < a.end_time  # they ran at the same time
    assert first.end_time <= a.start_time and w.end_time <= second.start_time
    # the trace context reached the tools' own threads
    assert seen_in_tool["add"] == a.context.span_id and seen_in_tool["weather"] == w.context.span_id
    assert seen_in_tool["weather_thread"] != threading.get_ident()


def test_async_episode(exporter) -> None:
    seen: dict[str, int] = {}

    @tool
    async def lookup(key: str) -> str:
        """Look a key up."""
        seen["span"] = trace.get_current_span().get_span_context().span_id
        await asyncio.sleep(0.05)
        return key.upper()

    llm = ScriptedLLM(['<tool_call>\n{"name": "lookup", "arguments": {"key": "k"}}\n</tool_call>', "K it is."])

    async def main():
        async with Agent(llm, [lookup], tool_format="hermes") as agent:
            return await agent.arun_result("look k up")

    assert asyncio.run(main()).answer == "K it is."
    spans = by_name(exporter.get_finished_spans())
    (root,), (call,) = spans["invoke_agent qwen_agent"], spans["execute_tool lookup"]
    assert len(spans["chat scripted"]) == 2
    assert {s.parent.span_id for s in spans["chat scripted"]} == {root.context.span_id}
    assert call.parent.span_id == root.context.span_id
    assert seen["span"] == call.context.span_id
    assert {s.context.trace_id for s in exporter.get_finished_spans()} == {root.context.trace_id}
    # with tools on offer every turn is streamed (a looping turn can be cut), so each has its first chunk's time
    assert all(s.attributes["gen_ai.response.time_to_first_chunk"] >= 0 for s in spans["chat scripted"])


def test_failed_and_unknown_tools(exporter) -> None:
    @tool
    def explode(city: str) -> str:
        """Fails."""
        raise ValueError(f"no weather for {city}")

    replies = ['<tool_call>\n{"name": "explode", "arguments": {"city": "Atlantis"}}\n</tool_call>\n'
               '<tool_call>\n{"name": "teleport", "arguments": {}}\n</tool_call>', "Sorry."]
    before = AGENT_METRICS.tools.calls.value(tool="explode", outcome="error")
    unknown_before = AGENT_METRICS.tools.calls.value(tool="unknown", outcome="error")
    result = Agent(ScriptedLLM(replies), [explode], tool_format="hermes").run_result("go")
    assert result.answer == "Sorry."
    spans = by_name(exporter.get_finished_spans())
    (failed,), (unknown,), (root,) = spans["execute_tool explode"], spans["execute_tool teleport"], \
        spans["invoke_agent qwen_agent"]
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "ValueError"
    assert "no weather for Atlantis" in failed.status.description
    assert unknown.status.status_code == StatusCode.ERROR
    assert unknown.attributes["error.type"] == "ToolNotFoundError"
    assert root.status.status_code == StatusCode.UNSET  # the episode itself went on and answered
    assert AGENT_METRICS.tools.calls.value(tool="explode", outcome="error") == before + 1
    assert AGENT_METRICS.tools.calls.value(tool="unknown", outcome="error") == unknown_before + 1


def test_content_is_recorded_only_when_opted_in(exporter, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    replies = ['<tool_call>\n{"name": "add", "arguments": {"a": 20, "b": 22}}\n</tool_call>', "42"]
    Agent(ScriptedLLM(replies), [add], tool_format="hermes").run_result("what is 20+22?")
    spans = by_name(exporter.get_finished_spans())
    first = min(spans["chat scripted"], key=lambda s: s.start_time)
    assert "what is 20+22?" in first.attributes["gen_ai.input.messages"]
    assert '"name": "add"' in first.attributes["gen_ai.output.messages"]
    (call,) = spans["execute_tool add"]
    assert call.attributes["gen_ai.tool.call.result"] == "42"
    assert '"a": 20' in call.attributes["gen_ai.tool.call.arguments"]


def test_a_model_failure_ends_the_episode_span_with_the_error(exporter) -> None:
    llm = ScriptedLLM([])  # runs out at once: ModelError
    try:
        Agent(llm, [add], tool_format="hermes").run("hi")
    except Exception as e:  # noqa: BLE001
        assert type(e).__name__ == "ModelError"
    else:
        raise AssertionError("the scripted model should have failed")
    spans = by_name(exporter.get_finished_spans())
    (turn,), (root,) = spans["chat scripted"], spans["invoke_agent qwen_agent"]
    assert turn.status.status_code == StatusCode.ERROR and turn.attributes["error.type"] == "ModelError"
    assert root.status.status_code == StatusCode.ERROR


def test_without_a_provider_nothing_is_imported() -> None:
    code = ("import sys; from qwen_agent import Agent, tool; from qwen_agent.llm.scripted import ScriptedLLM\n"
            "@tool\ndef add(a: int, b: int) -> int:\n    '''Add.'''\n    return a + b\n"
            "r = Agent(ScriptedLLM(['<tool_call>\\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}"
            "\\n</tool_call>', 'three']), [add], tool_format='hermes').run_result('1+2?', on_text=print)\n"
            "print(r.answer, [m for m in sys.modules if m.startswith('opentelemetry')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("three []")


def test_the_loops_decisions_are_events_of_the_episode(exporter) -> None:
    again = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    result = Agent(ScriptedLLM([again, again, "It is 3."]), [add], tool_format="hermes").run_result("1+2?")
    assert result.answer == "It is 3." and result.end == "answer_turn"
    spans = by_name(exporter.get_finished_spans())
    (root,) = spans["invoke_agent qwen_agent"]
    assert len(spans["chat scripted"]) == 3 and len(spans["execute_tool add"]) == 1  # the repeat did not run
    assert [e.name for e in root.events] == ["repeat_not_run", "answer_turn"]
    repeat = root.events[0].attributes
    assert repeat["gen_ai.tool.name"] == "add" and repeat["qwen_agent.step.index"] == 1
    assert "already ran" in repeat["qwen_agent.reason"]
    assert root.attributes["qwen_agent.end"] == "final" and root.attributes["qwen_agent.turns"] == 3
