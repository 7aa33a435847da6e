"""HuggingFace-agent mode: run/chat prompts, code extraction, a restricted evaluator.

The smolagents adapter lives beside LangChain's, in `qwen_agent.integrations.smolagents`.
"""

from qwen_agent.hf_agent.agent import HfAgent, HfAgentResult, parse_chat, parse_run, tool_function
from qwen_agent.hf_agent.evaluator import (
    SAFE_BUILTINS,
    Evaluation,
    InterpreterError,
    InterpretorError,
    Limits,
    evaluate,
)

__all__ = [
    "SAFE_BUILTINS",
    "Evaluation",
    "HfAgent",
    "HfAgentResult",
    "InterpreterError",
    "InterpretorError",
    "Limits",
    "evaluate",
    "parse_chat",
    "parse_run",
    "tool_function",
]
