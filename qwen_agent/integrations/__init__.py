"""Bridges to other frameworks. Each submodule imports its framework lazily: `qwen_agent.integrations.langchain`."""
