"""qwen_agent: tool use for Qwen chat models.

Importing the package loads no model, kernel, server or heavy dependency; see `qwen_agent.llm.get_llm`,
`qwen_agent.tools` and `qwen_agent.Agent`.
"""

from qwen_agent.agent import Agent, EpisodePolicy
from qwen_agent.errors import QwenAgentError
from qwen_agent.llm import LLM, ScriptedLLM, get_llm
from qwen_agent.planner import FormatPlanner, ReactPlanner
from qwen_agent.schema import AgentResult, GenerationConfig, Message, Step, ToolCall, ToolSpec
from qwen_agent.tools import Tool, ToolRegistry, tool

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "Agent",
    "AgentResult",
    "EpisodePolicy",
    "FormatPlanner",
    "GenerationConfig",
    "Message",
    "QwenAgentError",
    "ReactPlanner",
    "ScriptedLLM",
    "Step",
    "Tool",
    "ToolCall",
    "ToolRegistry",
    "ToolSpec",
    "__version__",
    "get_llm",
    "tool",
]
