"""Watch the agent work: every model turn, tool result and decision of the loop as it happens.

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
        if step.kind == "turn":
            for call in step.message.tool_calls or []:
                print(f"-> {call.name}({call.arguments})")
        elif step.kind == "observation":
            print(f"<- {step.observation}")
        elif step.kind == "notice":
            print(f"[{step.reason}]")
        elif step.kind in ("final", "stopped"):
            print(f"== {step.answer}")
