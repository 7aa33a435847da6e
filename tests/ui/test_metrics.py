"""`/metrics` of the UI over a real server on 127.0.0.1: its agents' model turns and tool calls, counted by hand
from a scripted run (one token per character of a scripted reply), and the access key guarding it."""

from __future__ import annotations

import json

import httpx

from qwen_agent import tool
from qwen_agent.llm.scripted import ScriptedLLM
from tests.server.test_metrics import sample
from tests.ui.conftest import react_agent, ui_server

H = {"X-Requested-By": "qwen-agent-ui", "Authorization": "Bearer k3y"}
CALL = 'Thought: add them\nAction: add\nAction Input: {"a": 2, "b": 3}'
FINAL = "Thought: done\nFinal Answer: 5"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def counts(text: str) -> dict[str, float]:
    def get(name: str, **labels: str) -> float:
        try:
            return sample(text, name, **labels)
        except KeyError:
            return 0.0

    m = {"model_name": "scripted"}
    return {"turns": get("qwen_agent:e2e_request_latency_seconds_count", **m),
            "streamed": get("qwen_agent:time_to_first_token_seconds_count", **m),
            "generated": get("qwen_agent:generation_tokens_total", **m),
            "tool_calls": get("qwen_agent:request_success_total", **m, finished_reason="tool_calls"),
            "add_ok": get("qwen_agent:tool_calls_total", tool="add", outcome="ok"),
            "add_seconds": get("qwen_agent:tool_call_duration_seconds_count", tool="add")}


def test_ui_metrics_count_the_runs_turns_and_tool_calls() -> None:
    llm = ScriptedLLM([CALL, FINAL])
    with react_agent(llm, [add]) as agent, ui_server(agent, api_key="k3y") as server, \
            httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as c:
        assert c.get("/metrics").status_code == 401  # the access key guards it like the API
        before = counts(c.get("/metrics", headers=H).text)
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "2+3?"}, headers=H)
        with c.stream("GET", f"/ui/api/conversations/{cid}/events", headers=H) as r:
            done = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {\"")]
        assert done[-1]["status"] == "final"
        resp = c.get("/metrics", headers=H)
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = counts(resp.text)
    delta = {k: after[k] - before[k] for k in after}
    assert delta == {"turns": 2, "streamed": 2, "generated": len(CALL) + len(FINAL), "tool_calls": 1,
                     "add_ok": 1, "add_seconds": 1}
