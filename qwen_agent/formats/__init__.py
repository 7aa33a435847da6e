"""Tool-call formats: see `qwen_agent.formats.base` for the seam."""
