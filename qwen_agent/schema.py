"""The data that flows between the parts: messages, tool specs and calls, generations, agent steps."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qwen_agent.jsonish import loads_object

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


def normalize_tool_name(name: str) -> str:
    """`name` as models vary it: case, spaces, `-` for `_`, quotes, backticks and brackets ignored."""
    return name.strip().strip("`'\"[]()<>*").strip().lower().replace(" ", "_").replace("-", "_")


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class ToolCall(BaseModel):
    """One request of the model to run a tool. `arguments` is the raw text the model wrote."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str = ""
    id: str = Field(default_factory=new_call_id)

    def parsed_arguments(self) -> dict[str, Any] | None:
        """The arguments as a dict when they are an object (JSON, json5, a Python dict, fenced); else None.

        `Tool.call` reads one more shape: raw text for a tool whose only parameter is a string."""
        return loads_object(self.arguments) if self.arguments.strip() else {}

    def identity(self) -> tuple[str, str]:
        """What makes two calls the same call: the tool, and the arguments after normalisation (key order,
        case and surrounding spaces of strings, 1 vs 1.0); unreadable arguments by their stripped text."""
        args = self.parsed_arguments()
        text = json.dumps(_normalised(args), sort_keys=True) if args is not None else self.arguments.strip()
        return normalize_tool_name(self.name), text

    # --- OpenAI wire format: the one place `tool_calls` entries are written and read ----------------------
    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_openai(cls, item: Any, index: int = 0) -> ToolCall:
        """One `tool_calls` entry (arguments as a JSON string or an object); ValueError when malformed."""
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValueError(f"tool_calls[{index}] has no function name")
        return cls(name=fn["name"], arguments=_arguments_text(fn.get("arguments")), id=item.get("id") or new_call_id())


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return value


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


class Message(BaseModel):
    """A chat message in OpenAI's shape (role, content, tool_calls, tool_call_id).

    `reasoning_content` holds an assistant's reasoning (Qwen3's `<think>` block, or what a server returned as
    `reasoning_content`), kept out of `content`; chat templates that expect it get it back under that name.

    `raw_text` is the text the model wrote for an assistant turn, kept only where it differs from what was read
    out of it (a call written as fenced JSON). When the history is rendered again, a format puts it back as
    written while it still reads as this message (`ToolFormat.verbatim`), so the next prompt starts with the
    tokens the engine generated and its prefix cache serves them. Optional: a history without it renders the
    calls in the format's own markup. Never sent over the OpenAI wire.
    """

    role: Role
    content: str | None = None
    reasoning_content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    raw_text: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(
        cls, content: str | None, tool_calls: list[ToolCall] | None = None, reasoning: str | None = None
    ) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls or None, reasoning_content=reasoning or None)

    @classmethod
    def tool(cls, content: str, tool_call_id: str | None = None, name: str | None = None) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id, name=name)

    # --- OpenAI wire format --------------------------------------------------------------------------------
    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name and self.role != "tool":
            out["name"] = self.name
        if self.reasoning_content:
            out["reasoning_content"] = self.reasoning_content
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


class ToolSpec(BaseModel):
    """What a model needs to know about a tool: a name, a description and a JSON schema of its arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    name_for_human: str | None = None

    @property
    def human_name(self) -> str:
        return self.name_for_human or self.name

    # --- OpenAI `tools` / `functions` -------------------------------------------------------------------
    def to_openai(self) -> dict[str, Any]:
        return {"type": "function", "function": self.to_openai_function()}

    def to_openai_function(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    @classmethod
    def from_openai(cls, data: dict[str, Any]) -> ToolSpec:
        """Accepts a `tools` entry ({"type": "function", "function": {...}}) or a bare `functions` entry."""
        fn = data.get("function", data) if data.get("type", "function") == "function" else data
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ValueError(f"not an OpenAI tool definition: {json.dumps(data)[:200]}")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        return cls(name=fn["name"], description=fn.get("description") or "", parameters=params)

    # --- Qwen plugin format ------------------------------------------------------------------------------
    def to_qwen_plugin(self) -> dict[str, Any]:
        props = self.parameters.get("properties", {}) or {}
        required = set(self.parameters.get("required", []) or [])
        params = []
        for pname, pschema in props.items():
            entry: dict[str, Any] = {
                "name": pname,
                "description": pschema.get("description", ""),
                "required": pname in required,
                "schema": {k: v for k, v in pschema.items() if k not in ("description", "title")},
            }
            params.append(entry)
        return {
            "name_for_human": self.human_name,
            "name_for_model": self.name,
            "description_for_model": self.description,
            "parameters": params,
        }

    @classmethod
    def from_qwen_plugin(cls, data: dict[str, Any]) -> ToolSpec:
        name = data.get("name_for_model") or data.get("name")
        if not name:
            raise ValueError(f"not a Qwen plugin definition (no name_for_model): {json.dumps(data)[:200]}")
        props: dict[str, Any] = {}
        required: list[str] = []
        params = data.get("parameters", [])
        if isinstance(params, dict):  # some plugin files already carry a JSON schema
            return cls(
                name=name,
                description=data.get("description_for_model", ""),
                parameters=params,
                name_for_human=data.get("name_for_human"),
            )
        for p in params:
            schema = dict(p.get("schema") or {"type": p.get("type", "string")})
            if p.get("description"):
                schema["description"] = p["description"]
            props[p["name"]] = schema
            if p.get("required"):
                required.append(p["name"])
        parameters: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            parameters["required"] = required
        return cls(
            name=name,
            description=data.get("description_for_model", ""),
            parameters=parameters,
            name_for_human=data.get("name_for_human"),
        )


class GenerationConfig(BaseModel):
    """Sampling settings shared by every backend. `temperature=0` means greedy.

    `repetition_penalty` (1.0: none) is transformers' rule: a token already in the prompt or the output has its
    logit divided by the penalty when positive, multiplied when negative, before greedy choice or sampling.
    """

    model_config = ConfigDict(frozen=True)

    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    repetition_penalty: float = Field(default=1.0, gt=0.0)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


class Usage(BaseModel):
    """Token accounting. `cached_tokens` counts prompt tokens served from a reused prefix cache;
    `repeats_avoided` the calls a backend took back before finishing them, each a repeat of a call already run
    (`CallConstraint.ran`), so the model wrote something else in their place."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    repeats_avoided: int = 0

    @property
    def prefilled_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            repeats_avoided=self.repeats_avoided + other.repeats_avoided,
        )


class Generation(BaseModel):
    """The result of `LLM.generate`: text with any stop string removed, and why generation ended."""

    text: str
    finish_reason: FinishReason = "stop"
    stop_string: str | None = None
    usage: Usage = Field(default_factory=Usage)


class Chunk(BaseModel):
    """One piece of `LLM.stream`. The last chunk has `finish_reason` set (and `usage` when known)."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


StepKind = Literal["turn", "observation", "notice", "final", "stopped"]

#: what the loop decided on its own (a `notice` step's `decision`)
Decision = Literal["repeat_not_run", "repeat_avoided", "answer_turn", "max_steps", "ungrounded_call",
                   "ungrounded_after_repeat", "ungrounded_answer", "uncovered_answer", "invented_tool",
                   "invented_figure"]

#: how an episode ended (`AgentResult.end`)
EpisodeEnd = Literal["answer", "answer_turn", "max_steps", "cancelled"]


class Step(BaseModel):
    """One event of the agent loop; the data itself, so a consumer never rebuilds the conversation.

    - `turn`: a model turn (`message`: the assistant message with its content, `reasoning_content` and every
      call of the turn; `raw`, `usage`, `seconds` in the model, `first_token_seconds` when streamed).
    - `observation`: a tool ran (`tool_call`, `observation`, `is_error`, `seconds` in the tool).
    - `notice`: the loop decided something (`decision`, `reason` in words, `tool_call` when about one call).
    - `final`: the episode ended with an answer (`answer`; `reason` says how it was had).
    - `stopped`: it ended without one (`answer` holds a partial result, `reason` why).

    `index` is the number of the model turn the step belongs to, from 0.
    """

    kind: StepKind
    index: int
    message: Message | None = None
    tool_call: ToolCall | None = None
    observation: str | None = None
    is_error: bool = False
    decision: Decision | None = None
    answer: str | None = None
    reason: str | None = None
    raw: str = ""
    usage: Usage | None = None
    seconds: float | None = None
    first_token_seconds: float | None = None


class CallConstraint(BaseModel):
    """What a tool call in the model's turn must look like, for a backend that can constrain its decoding (the
    local one): the format the model writes calls in, the tools it may call, and the text its turn already
    starts with (a forced call's opener, which then constrains the turn from its first token), and the calls
    already run in this user turn (a backend that can takes back a call identical to one of them while the model
    writes it, and lets the model write something else in its place).

    Attributes:
        format: the format's name ("hermes", "react", "qwen3_coder").
        tools: the tools a call may name, with the JSON schemas its arguments must match.
        prefill: the assistant turn's forced beginning ("" when the model starts freely).
        ran: the calls of this user turn that have results (empty: none are taken back).
    """

    model_config = ConfigDict(frozen=True)

    format: str
    tools: tuple[ToolSpec, ...]
    prefill: str = ""
    ran: tuple[ToolCall, ...] = ()


class ChatPrompt(list):  # noqa: FURB189 - a list so every backend and the server's worker take it unchanged
    """Chat messages plus tools for the backend to render itself (the checkpoint's chat template, or a server
    sent OpenAI `tools`). `tool_choice` is OpenAI's value, for servers that honour it. `calls`, when set, says
    what a tool call must look like, for a backend that constrains its decoding (others ignore it)."""

    def __init__(self, messages: Any = (), tools: Any = (), tool_choice: Any = None,
                 calls: CallConstraint | None = None) -> None:
        super().__init__(messages)
        self.tools: tuple[ToolSpec, ...] = tuple(tools)
        self.tool_choice = tool_choice
        self.calls = calls


class Turn(BaseModel):
    """The model's turn: an assistant message (content and/or tool_calls), the raw text, token usage."""

    model_config = ConfigDict(frozen=True)

    message: Message
    raw: str
    usage: Usage = Field(default_factory=Usage)
    seconds: float | None = None  # wall time of the model call
    first_token_seconds: float | None = None  # until its first text, when streamed


class AgentResult(BaseModel):
    """Everything one run produced."""

    answer: str
    finished: bool  # an answer was had (`end` says how)
    steps: list[Step]
    messages: list[Message]
    usage: Usage = Field(default_factory=Usage)
    end: EpisodeEnd = "answer"
