"""Watch the agent work: every Thought / Action / Observation as it happens.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 python examples/streaming_steps.py
"""

from qwen_agent import Agent, tool


@tool
def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


if __name__ == "__main__":
    agent = Agent(tools=[multiply], max_steps=4)
    for step in agent.run_stream("What is 12.5 times 8?"):
        if step.kind == "action":
            print(f"-> {step.tool_call.name}({step.tool_call.arguments})")
        elif step.kind == "observation":
            print(f"<- {step.observation}")
        else:
            print(f"== {step.answer}")
