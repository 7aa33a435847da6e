"""LLM backends behind one contract (`LLM`), chosen by an explicit name table; never by the model's name."""

from __future__ import annotations

from typing import Any

from qwen_agent.lazy import load_from_table
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.llm.scripted import ScriptedLLM

# backend name -> "module:class". Imported only when asked for, so `import qwen_agent` stays light.
BACKENDS: dict[str, str] = {
    "openai": "qwen_agent.llm.openai_compat:OpenAICompatLLM",
    "transformers": "qwen_agent.llm.local.transformers:TransformersLLM",
}


def get_llm(backend: str = "openai", **kwargs: Any) -> LLM:
    """Build a backend by name.

    Args:
        backend: "openai" (any OpenAI-compatible server: vLLM, SGLang, Ollama, DashScope, `qwen-agent serve`)
            or "transformers" (a local checkpoint, hub name or path).
        **kwargs: passed to the backend's constructor (e.g. `model`, `base_url`, `api_key`).
    """
    return load_from_table(BACKENDS, backend, "LLM backend")(**kwargs)


__all__ = ["BACKENDS", "LLM", "Prompt", "ScriptedLLM", "get_llm"]
