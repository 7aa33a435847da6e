"""Tool-call formats: see `qwen_agent.formats.base` for the seam. `FORMATS` is the one table of their names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qwen_agent.errors import ConfigurationError
from qwen_agent.formats.base import ParsedTurn, Rendered, ToolChoice, ToolFormat, TurnReader
from qwen_agent.lazy import load_from_table


@dataclass(frozen=True)
class FormatVariant:
    """A name users may pass as `tool_format`: a format class and the settings that make this variant of it.

    Args:
        summary: what the model reads and writes, and for which models (CLI help, docs).
        target: "module:class" of the format; None for a choice made with the backend ("auto", "server":
            see `qwen_agent.function_calling.resolve_tool_format`).
        settings: the class's keyword arguments for this variant (e.g. `think_opened`).
    """

    summary: str
    target: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def with_backend(self) -> bool:
        """The backend decides what this name means, so no format is built without one."""
        return self.target is None


_HERMES = "qwen_agent.formats.hermes:HermesFormat"
_CODER = "qwen_agent.formats.qwen3_coder:Qwen3CoderFormat"
_QWEN3 = {"default_system": None, "resend_reasoning": True}

#: every name users may pass as `tool_format`; the CLIs, the server, the benchmarks and the docs read it
FORMATS: dict[str, FormatVariant] = {
    "auto": FormatVariant("the format the backend's chat template renders (Hermes or Qwen3-Coder), ReAct for a "
                          "template without tools (Qwen-1), else Hermes"),
    "hermes": FormatVariant("<tool_call> JSON as Qwen2.5's template renders it (its default system prompt): "
                            "Qwen2.5; Qwen3 and QwQ through their own templates", _HERMES),
    "hermes_qwen3": FormatVariant("<tool_call> JSON, Qwen3's template: no default system prompt, the reasoning "
                                  "of the current episode's turns sent back: Qwen3, Qwen3-Instruct-2507",
                                  _HERMES, _QWEN3),
    "hermes_qwen3_thinking": FormatVariant("hermes_qwen3 with <think> opened by the prompt, so the model writes "
                                           "only </think>: Qwen3-Thinking-2507", _HERMES,
                                           {**_QWEN3, "think_opened": True}),
    "qwen3_coder": FormatVariant("<function=name><parameter=p> XML: Qwen3-Coder, Qwen3.5", _CODER),
    "qwen3_coder_thinking": FormatVariant("qwen3_coder with <think> opened by the prompt: Qwen3.5's thinking "
                                          "templates", _CODER, {"think_opened": True}),
    "react": FormatVariant("Qwen's Thought / Action / Observation text with an Observation: stop (lang: en, zh): "
                           "Qwen-1, any text-only model", "qwen_agent.formats.react:ReactFormat"),
    "server": FormatVariant("OpenAI tools sent to a server that parses calls itself (openai backend); a call left "
                            "as text in its content is read as Hermes"),
}


def get_format(name: str, **kwargs: Any) -> ToolFormat:
    """The format called `name` in `FORMATS`, its variant's settings overridden by `kwargs`
    (e.g. `get_format("react", lang="zh")`).

    Raises:
        ConfigurationError: `name` is not in `FORMATS`, or names a choice made with a backend ("auto", "server").
    """
    variant = FORMATS.get(name)
    if variant is None:
        raise ConfigurationError(f"unknown tool_format {name!r}; use one of {list(FORMATS)}")
    if variant.target is None:
        raise ConfigurationError(f"tool_format {name!r} is chosen with a backend: pass it to "
                                 "qwen_agent.function_calling.resolve_tool_format")
    cls = load_from_table({name: variant.target}, name, "tool format")
    return cls(**{**variant.settings, **kwargs})


__all__ = ["FORMATS", "FormatVariant", "ParsedTurn", "Rendered", "ToolChoice", "ToolFormat", "TurnReader",
           "get_format"]
