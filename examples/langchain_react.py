"""A classic LangChain ReAct chain (langchain-core only) over a qwen_agent model.

PromptTemplate | QwenAgentLLM.bind(stop=["\\nObservation:"]), with LangChain tools run by a small loop: the
model writes Thought / Action / Action Input, the chain stops before `Observation:`, the tool's result is
appended to the scratchpad, and the loop repeats until a `Final Answer`.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct \\
     python examples/langchain_react.py "What is 12 * 7 + 3?"
"""

from __future__ import annotations

import sys

from langchain_core.prompts import PromptTemplate
from langchain_core.tools import tool

from qwen_agent.formats.react import parse_react
from qwen_agent.integrations.langchain import QwenAgentLLM
from qwen_agent.llm.base import LLM
from qwen_agent.prompts.react import REACT_TEMPLATE

# Qwen's ReAct wording, in LangChain's variable names, ending where the model continues.
TEMPLATE = (
    REACT_TEMPLATE["en"].replace("{tool_descs}", "{tools}").replace("{query}", "{input}")
    + "\nThought:{agent_scratchpad}"
)


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / and parentheses, e.g. 12 * 7 + 3."""
    allowed = set("0123456789+-*/(). ")
    if not set(expression) <= allowed:
        return "Error: only numbers and + - * / ( ) are allowed"
    return str(eval(expression, {"__builtins__": {}}))  # noqa: S307 - characters checked above


def run_chain(question: str, llm: LLM, max_steps: int = 5) -> str:
    """Answer `question` with a ReAct chain; returns the final answer."""
    tools = {t.name: t for t in [calculator]}
    prompt = PromptTemplate.from_template(TEMPLATE).partial(
        tools="\n\n".join(f"{t.name}: {t.description}" for t in tools.values()), tool_names=",".join(tools)
    )
    chain = prompt | QwenAgentLLM(llm=llm).bind(stop=["\nObservation:"])
    scratchpad = ""
    for _ in range(max_steps):
        text = chain.invoke({"input": question, "agent_scratchpad": scratchpad})
        step = parse_react("Thought:" + text)
        if step.kind != "tool_calls":
            return step.answer or ""
        call = step.calls[0]
        observation = tools[call.name].invoke(call.arguments) if call.name in tools else f"Unknown tool {call.name}"
        scratchpad += f"{text}\nObservation: {observation}\nThought:"
    return "(no final answer)"


if __name__ == "__main__":
    from qwen_agent.settings import Settings

    print(run_chain(" ".join(sys.argv[1:]) or "What is 12 * 7 + 3?", Settings.from_env().make_llm()))
