"""examples/langchain_create_agent.py: LangChain's `create_agent` loop over `ChatQwenAgent`, against the real
OpenAI-compatible server on 127.0.0.1 whose model is the rule-based scripted double (conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from examples.langchain_create_agent import WeatherReport, ask, get_weather
from qwen_agent.integrations.langchain import ChatQwenAgent
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from tests.conftest import REPO
from tests.integrations.conftest import POLICY_MODEL, PolicyServer


def _llm(policy_server: PolicyServer) -> OpenAICompatLLM:
    return OpenAICompatLLM(POLICY_MODEL, base_url=policy_server.base_url, max_retries=0, timeout=30)


def test_agent_loop_calls_the_tool_and_answers_from_its_result(policy_server: PolicyServer):
    state = ask(_llm(policy_server), "What is the weather in Paris?")
    human, call, result, answer = state["messages"]
    assert isinstance(human, HumanMessage)
    assert isinstance(call, AIMessage)
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert isinstance(result, ToolMessage)
    assert result.content == "Paris: 18 °C, light rain"  # the example's table, run by LangGraph's tool node
    assert result.tool_call_id == call.tool_calls[0]["id"]
    assert answer.content == "The tool answered: Paris: 18 °C, light rain"
    # the model's second turn read the tool's result (Hermes: a <tool_response> in a user turn)
    second_prompt = policy_server.policy.prompts[-1]
    assert "<tool_response>\nParis: 18 °C, light rain\n</tool_response>" in second_prompt[-1].content


def test_structured_answer_uses_the_provider_strategy_the_profile_allows(policy_server: PolicyServer):
    llm = _llm(policy_server)
    assert ChatQwenAgent(llm=llm).profile["structured_output"] is True
    seen = len(policy_server.policy.prompts)
    state = ask(llm, "What is the weather in Tokyo?", structured=True)
    assert state["structured_response"] == WeatherReport(city="Tokyo", summary="Tokyo: 24 °C, clear sky")
    assert json.loads(state["messages"][-1].content) == {"city": "Tokyo", "summary": "Tokyo: 24 °C, clear sky"}
    prompts = policy_server.policy.prompts[seen:]
    assert len(prompts) == 2
    for prompt in prompts:  # provider strategy: a JSON-schema instruction, and no extra WeatherReport tool
        system = prompt[0].content
        assert "JSON schema:\n" in system and '"title": "WeatherReport"' in system
        assert '"name": "WeatherReport"' not in system
        assert '"name": "get_weather"' in system


def test_the_example_script_runs(policy_server: PolicyServer):
    env = {**os.environ, "QWEN_AGENT_BASE_URL": policy_server.base_url, "QWEN_AGENT_MODEL": POLICY_MODEL,
           "QWEN_AGENT_BACKEND": "openai", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(REPO / "examples" / "langchain_create_agent.py"),
                          "What is the weather in Lima?"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tool: Lima: 16 °C, overcast" in out.stdout
    assert "structured: city='Lima' summary='Lima: 16 °C, overcast'" in out.stdout


def test_unknown_city_is_an_answer_the_model_can_read():
    assert get_weather.invoke({"city": "Atlantis"}) == "No weather data for Atlantis; known cities: Paris, Tokyo, Lima."
