"""LangChain's agent loop (`langchain.agents.create_agent`) over a qwen_agent model.

`ChatQwenAgent` gives the model LangChain tool calling in its own format (Hermes `<tool_call>` for Qwen2.5),
so `create_agent(ChatQwenAgent(...), tools=[...])` runs the usual loop: the model calls a tool, LangGraph runs
it, the result goes back, the model answers. With `response_format=WeatherReport` the final answer also comes
back as that pydantic object: the chat model's profile says it answers `response_format` itself, so
create_agent uses its provider strategy (a JSON answer) rather than an extra tool.

Needs `pip install 'qwen_agent[langchain]'`. Run against any OpenAI-compatible server (QWEN_AGENT_BASE_URL and
QWEN_AGENT_MODEL; the defaults reach a local `qwen-agent serve`), e.g.
    qwen-agent serve --backend transformers --model "$(qwen-agent fetch-model)" &
    python examples/langchain_create_agent.py "What is the weather in Paris?"
"""

from __future__ import annotations

import sys
from typing import Any

from langchain.agents import create_agent
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from qwen_agent.integrations.langchain import ChatQwenAgent
from qwen_agent.llm.base import LLM

# A fixed table stands in for a weather service, so the example runs offline.
WEATHER = {"paris": "18 °C, light rain", "tokyo": "24 °C, clear sky", "lima": "16 °C, overcast"}


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    found = WEATHER.get(city.strip().lower())
    return f"{city}: {found}" if found else f"No weather data for {city}; known cities: Paris, Tokyo, Lima."


class WeatherReport(BaseModel):
    """The weather in one city."""

    city: str = Field(description="the city asked about")
    summary: str = Field(description="the weather there, in a few words")


def build_agent(llm: LLM, *, structured: bool = False) -> Any:
    """A create_agent graph over `llm` with the weather tool; `structured`: answer as a WeatherReport."""
    model = ChatQwenAgent(llm=llm, temperature=0)
    return create_agent(model, tools=[get_weather], system_prompt="Use the tools to answer questions.",
                        response_format=WeatherReport if structured else None)


def ask(llm: LLM, question: str, *, structured: bool = False) -> dict[str, Any]:
    """Run the agent loop on `question`; the final state (its `messages`, and `structured_response`)."""
    return build_agent(llm, structured=structured).invoke({"messages": [{"role": "user", "content": question}]})


if __name__ == "__main__":
    from qwen_agent.settings import Settings

    state = ask(Settings.from_env().make_llm(), " ".join(sys.argv[1:]) or "What is the weather in Paris?",
                structured=True)
    for message in state["messages"]:
        calls = getattr(message, "tool_calls", None)
        print(f"{message.type}: {calls or message.content}")
    print("structured:", state.get("structured_response"))
