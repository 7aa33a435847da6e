"""A smolagents CodeAgent driven by a Qwen model behind qwen_agent's backend, calling a qwen_agent tool.

Run: pip install 'qwen_agent[smolagents]'
     QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct python examples/smolagents_code_agent.py
"""

from smolagents import CodeAgent

from qwen_agent import tool
from qwen_agent.integrations.smolagents import QwenModel, to_smolagents_tool
from qwen_agent.settings import Settings


@tool
def unit_price(item: str) -> float:
    """Price of one unit of an item, in yuan.

    Args:
        item: the item, e.g. apple
    """
    return {"apple": 3.5, "pear": 4.0}.get(item.lower(), 10.0)


if __name__ == "__main__":
    model = QwenModel(Settings.from_env().make_llm())
    agent = CodeAgent(tools=[to_smolagents_tool(unit_price)], model=model, max_steps=4, verbosity_level=0)
    print(agent.run("How much do five apples cost, in yuan?"))
