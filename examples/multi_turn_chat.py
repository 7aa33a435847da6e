"""A multi-turn conversation: the second question refers to the first answer.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 python examples/multi_turn_chat.py
"""

from qwen_agent import Agent, tool


@tool
def unit_price(item: str) -> float:
    """Price of one unit of an item, in yuan."""
    return {"apple": 3.5, "pear": 4.0}.get(item.lower(), 10.0)


if __name__ == "__main__":
    agent = Agent(tools=[unit_price], system="You are a shop assistant. Be brief.")
    history = []
    for question in ["How much is one apple?", "And how much would five of them cost?"]:
        result = agent.run_result(question, history=history)
        history = result.messages
        print(f"Q: {question}\nA: {result.answer}")
