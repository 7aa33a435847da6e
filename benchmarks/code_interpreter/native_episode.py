"""A code-interpreter episode in the model's native tool-call format: the "beyond the paper" row.

NOT THE PUBLISHED PROTOCOL. The published benchmark prompted every model with Qwen's ReAct text
(`episode.Episode`); this episode offers the same tool, described with the same words, in the format the
model was trained on (`--tool-format hermes`, `auto` or another name of `qwen_agent.formats.FORMATS`): the
tool in the system turn, calls as the format writes them, each result returned as a tool message. What stays
the published one: the kernel, its preamble, the code preparation, the observation text, the episode end
(`error:`/`Traceback`), the execution limit, and the scoring of `gen` (the last standalone number for math).

`gen` is the model's raw turns, each executed call followed by `\\nObservation: <observation>\\n`, so that the
published readers (last number, figures and their observations) see what they see in a ReAct transcript.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.code_interpreter.episode import (
    LAZY_PREAMBLE,
    SYSTEM,
    UPLOAD_NOTE,
    Episode,
    published_preamble,
)
from qwen_agent import LLM, GenerationConfig, Message
from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import FORMATS, Rendered, get_format
from qwen_agent.function_calling import FunctionCallingRequest, build_request, resolve_tool_format
from qwen_agent.schema import ToolCall, ToolSpec

# The tool of `episode.TOOL_LINE` (Qwen's code-interpreter benchmark), as a function schema.
CODE_TOOL = ToolSpec(
    name="code_interpreter",
    description="代码解释器，可用于执行Python代码。",
    parameters={"type": "object", "properties": {"code": {"type": "string", "description": "待执行的代码"}},
                "required": ["code"]},
)

NativeSource = Callable[[Rendered], str]


def native_request(tool_format: str, llm: LLM | None) -> FunctionCallingRequest:
    """One call per turn (the ReAct episode runs one Action per turn), the model free to answer instead.

    `llm` None (re-scoring recorded turns): the format is read without a model, so a name the backend resolves
    ("auto": whatever the model's chat template renders) is refused.
    """
    if llm is None:
        if FORMATS[tool_format].with_backend:
            raise ConfigurationError("re-scoring native turns without the model: name the format it wrote "
                                     f"(--tool-format hermes), not {tool_format}")
        fmt = get_format(tool_format)
    else:
        fmt = resolve_tool_format(tool_format, llm)
    return build_request(fmt, [CODE_TOOL], "auto", parallel_tool_calls=False)


class NativeTurns:
    """Turns from a live model in its native format. `lock` serialises calls (a local model on one device)."""

    def __init__(self, llm: LLM, config: GenerationConfig, lock: threading.Lock | None = None) -> None:
        self.llm, self.config, self.lock = llm, config, lock

    def __call__(self, rendered: Rendered) -> str:
        if self.lock is None:
            return self.llm.generate(rendered.prompt, stop=rendered.stop, config=self.config).text
        with self.lock:
            return self.llm.generate(rendered.prompt, stop=rendered.stop, config=self.config).text


def call_code(call: ToolCall) -> str:
    """The code of a call: its `code` argument; else its raw arguments text, which then runs as written (as
    the ReAct episode runs an Action Input it cannot read as code)."""
    args = call.parsed_arguments()
    code = args.get("code") if isinstance(args, dict) else None
    return code if isinstance(code, str) else call.arguments


class NativeEpisode(Episode):
    """`Episode` with the conversation in a native tool-call format (`request`); `source` answers a rendered
    prompt with the model's raw text. Easy cases (a given ReAct round) are not supported: math only."""

    def __init__(self, session: Any, source: NativeSource, request: FunctionCallingRequest, **kwargs: Any) -> None:
        super().__init__(session, source, **kwargs)  # type: ignore[arg-type]
        self.request = request

    def run(self, question: str, prefix: str, files: Sequence[str], lang: str, limit: int) -> dict[str, Any]:
        if prefix:
            raise ValueError("a native-format episode cannot continue a given ReAct round (an easy case)")
        self.session.execute(published_preamble() if self.rules.preamble == "published" else LAZY_PREAMBLE,
                             timeout=max(self.timeout, 60.0))
        note = UPLOAD_NOTE.get(lang, UPLOAD_NOTE["en"]).format(names=", ".join(files)) if files else ""
        messages = [Message.system(SYSTEM), Message.user(note + question)]
        text, count = "", 0
        while count < limit:
            raw = self.source(self.request.render(messages))  # type: ignore[arg-type]
            self.turns.append(raw)
            turn = self.request.read(raw)
            text += raw
            if not turn.message.tool_calls:
                break
            call = turn.message.tool_calls[0]  # one per turn (the request reads one); any name runs, as in ReAct
            obs, go_on = self._execute(call_code(call))
            messages += [turn.message, Message.tool(obs, call.id, call.name)]
            text += f"\nObservation: {obs}\n"
            count += 1
            if not go_on:
                break
        return {"gen": text, "turns": self.turns, "executions": self.executions}
