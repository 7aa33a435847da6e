"""A custom tool from a typed function, used by an agent on any OpenAI-compatible server.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct python examples/custom_tool.py
"""

from qwen_agent import Agent, tool


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather of a city.

    Args:
        city: the city, e.g. Hangzhou
        unit: celsius or fahrenheit
    """
    table = {"hangzhou": 26, "beijing": 18}
    celsius = table.get(city.lower(), 20)
    return f"{city}: sunny, {celsius if unit == 'celsius' else celsius * 9 / 5 + 32} {unit}"


if __name__ == "__main__":
    agent = Agent(tools=[get_weather])  # the model comes from QWEN_AGENT_* environment variables
    print(agent.run("What's the weather in Hangzhou?"))
