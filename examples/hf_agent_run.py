"""The HuggingFace-agent style: the model names its tools, writes Python calling them, a restricted evaluator runs it.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct python examples/hf_agent_run.py
"""

from qwen_agent import tool
from qwen_agent.hf_agent import HfAgent
from qwen_agent.settings import Settings


@tool
def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


@tool
def shout(text: str) -> str:
    """Write a text in capital letters."""
    return text.upper()


if __name__ == "__main__":
    agent = HfAgent(Settings.from_env().make_llm(), [word_count, shout], prompt_style="chat")
    result = agent.run("Shout the text in `sentence`, then count its words.", sentence="qwen writes code")
    print("explanation:", result.explanation)
    print("code:", result.code.replace("\n", "; "))
    print("result:", result.value)
