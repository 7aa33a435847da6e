"""Reading ReAct text: kept as an import path for existing code; the format lives in `qwen_agent.formats.react`."""

from qwen_agent.formats.react import (
    ParsedCall,
    ReactOutput,
    clean_action_input,
    clean_tool_name,
    parse_react,
)

__all__ = ["ParsedCall", "ReactOutput", "clean_action_input", "clean_tool_name", "parse_react"]
