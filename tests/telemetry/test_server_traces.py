"""The server's spans: one per request, under the caller's trace when it sends `traceparent` (our OpenAI-compatible
backend does while tracing), so an agent's model turn and the server's work on it are one trace."""

from __future__ import annotations

from opentelemetry import trace

from qwen_agent import Agent
from qwen_agent.llm import get_llm
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.server import ServerThread, create_app


def ours(exporter) -> list:
    """Our spans (FastAPI records its own too, under its own scope)."""
    return [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "qwen_agent"]


def test_an_agent_over_our_server_is_one_trace(exporter) -> None:
    app = create_app(ScriptedLLM(["Hi there."]), model_name="qwen-scripted", count_tokens=lambda text: 9)
    with ServerThread(app) as server:
        llm = get_llm("openai", model="qwen-scripted", base_url=server.base_url, api_key="none")
        with Agent(llm, [], tool_format="hermes") as agent:
            assert agent.run_result("hello", on_text=lambda text: None).answer == "Hi there."
    spans = {s.name + (" server" if s.kind == trace.SpanKind.SERVER else ""): s
             for s in ours(exporter)}
    assert sorted(spans) == ["chat qwen-scripted", "chat qwen-scripted server", "invoke_agent qwen_agent"]
    client, served = spans["chat qwen-scripted"], spans["chat qwen-scripted server"]
    assert served.parent.span_id == client.context.span_id
    assert served.context.trace_id == spans["invoke_agent qwen_agent"].context.trace_id
    assert served.attributes["gen_ai.usage.input_tokens"] == 9
    assert served.attributes["gen_ai.usage.output_tokens"] == len("Hi there.")
    assert served.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert served.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    # the server's work lies within the client's turn
    assert client.start_time <= served.start_time and served.end_time <= client.end_time


def test_a_request_without_traceparent_starts_its_own_trace(exporter) -> None:
    import httpx

    with ServerThread(create_app(ScriptedLLM(["ok"]), model_name="m")) as server:
        r = httpx.post(f"{server.base_url}/completions", json={"model": "m", "prompt": "say ok"}, timeout=20)
    assert r.status_code == 200
    (span,) = ours(exporter)
    assert span.name == "text_completion m" and span.parent is None and span.kind == trace.SpanKind.SERVER
