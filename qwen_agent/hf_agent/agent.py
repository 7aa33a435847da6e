"""`HfAgent`: a Qwen model used the way transformers' (removed) `HfAgent` / `Agent` classes used a model.

Run mode: one task -> the model names its tools in backticks, writes `Answer:` and Python code calling them; the
code is run by the restricted evaluator. Chat mode: a Human/Assistant transcript, each answer an explanation and
a fenced code block; the transcript and the variables the code created are carried from turn to turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from qwen_agent.hf_agent.evaluator import SAFE_BUILTINS, Evaluation, Limits, evaluate
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.prompts.hf_agent import (
    CHAT_STOP,
    CHAT_TEMPLATE,
    CHAT_TURN,
    RUN_CUE,
    RUN_STOP,
    RUN_TEMPLATE,
    chat_preamble,
    chat_turn,
    describe_tools,
    run_prompt,
)
from qwen_agent.schema import GenerationConfig, Message
from qwen_agent.tools.base import Tool
from qwen_agent.tools.registry import ToolRegistry

PromptStyle = Literal["text", "chat", "qwen"]
# Qwen-1 treated "Human:" and "Assistant:" as reserved words; QWenAgent (Qwen's eval/evaluate_plugin.py,
# `generate_one`, lines ~150-170) renamed them in the prompt and the stop words, and back in the answer.
_QWEN_RENAMES = (("Human:", "_HUMAN_:"), ("Assistant:", "_ASSISTANT_:"))
_FENCE_OPENERS = ("```", "```py", "```python")


@dataclass
class HfAgentResult:
    """One answer of the agent.

    Attributes:
        completion: the model's raw text (for run mode, what followed `I will use the following`).
        explanation: the prose before the code; the tools it names in backticks are the agent's choice.
        code: the Python code, without fences ("" when the model wrote none).
        evaluation: what running the code in the restricted evaluator gave (value, state, output, error).
    """

    completion: str
    explanation: str
    code: str
    evaluation: Evaluation

    @property
    def value(self) -> Any:
        """The code's result: the evaluation's value, or its error message when it stopped on an error."""
        return self.evaluation.error if self.evaluation.error is not None else self.evaluation.value


def parse_run(completion: str) -> tuple[str, str]:
    """(explanation, code) of a run-mode completion, read as continuing `I will use the following`.

    As transformers did: the explanation is what precedes the first `Answer:`, the code what follows it, minus
    a first line that is a bare ```/```py/```python fence and a last line that is a bare closing fence. Without
    `Answer:` the whole text is the explanation and the code is empty.
    """
    text = f"{RUN_CUE} {completion}"
    explanation, found, code = text.partition("Answer:")
    if not found:
        return explanation.strip(), ""
    lines = code.strip().split("\n")
    if lines and lines[0] in _FENCE_OPENERS:
        lines = lines[1:]
    if lines and lines[-1] == "```":
        lines = lines[:-1]
    return explanation.strip(), "\n".join(lines)


def parse_chat(completion: str) -> tuple[str, str]:
    """(explanation, code) of a chat-mode answer: the text before the first ``` line, then the fenced block.

    A block left open runs to the end of the text; an answer with no fence has empty code.
    """
    lines = completion.split("\n")
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("```")), len(lines))
    explanation = "\n".join(lines[:start]).strip()
    if start == len(lines):
        return explanation, ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("```")), len(lines))
    return explanation, "\n".join(lines[start + 1 : end]).strip()


def tool_function(tool: Tool) -> Callable[..., Any]:
    """A plain function calling `tool`: positional arguments map to its parameters in schema order."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return tool.run(**tool.validate(tool.keyword_arguments(args, kwargs)))

    call.__name__ = tool.name
    return call


class HfAgent:
    """A model that answers tasks with Python code calling tools, in the HuggingFace-agent style.

    Example:
        >>> agent = HfAgent(get_llm("openai", model="Qwen2.5-7B-Instruct"), [translator, summarizer])
        >>> result = agent.run("Summarize the German `text` in English.", text="...")
        >>> result.explanation, result.code, result.value

    Args:
        llm: any backend of the `LLM` contract.
        tools: `Tool` objects or plain functions (turned into tools with `@tool`).
        prompt_style: "text" sends the prompt as raw text for completion; "chat" wraps it in a user message
            and (run mode) continues an assistant message holding `I will use the following`; "qwen" does what
            Qwen's QWenAgent did for the published HF-agent numbers: the whole prompt, `Human:`/`Assistant:`
            renamed `_HUMAN_:`/`_ASSISTANT_:`, as the user turn after the default system turn, an empty
            assistant turn, no stop words while generating, a trailing stop word cut, the names restored.
        run_template / chat_template / chat_turn_template: prompt templates (see `qwen_agent.prompts.hf_agent`).
        tools_description: the text that replaces `<<all_tools>>`; default one `- name: description` line per
            tool with its arguments.
        config: generation settings (default: the backend's).
        limits / builtins: bounds and builtins of the restricted evaluator.
    """

    def __init__(
        self,
        llm: LLM,
        tools: Iterable[Tool | Callable[..., Any]] | ToolRegistry,
        *,
        prompt_style: PromptStyle = "text",
        run_template: str = RUN_TEMPLATE,
        chat_template: str = CHAT_TEMPLATE,
        chat_turn_template: str = CHAT_TURN,
        tools_description: str | None = None,
        config: GenerationConfig | None = None,
        limits: Limits | None = None,
        builtins: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        if prompt_style not in ("text", "chat", "qwen"):
            raise ValueError(f"prompt_style must be 'text', 'chat' or 'qwen', got {prompt_style!r}")
        if not run_template.rstrip().endswith(RUN_CUE):
            raise ValueError(f"a run template must end with {RUN_CUE!r}: the model's text continues it")
        self.llm = llm
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.prompt_style = prompt_style
        self.run_template = run_template
        self.chat_template = chat_template
        self.chat_turn_template = chat_turn_template
        self.config = config
        self.limits = limits
        self.builtins = dict(SAFE_BUILTINS if builtins is None else builtins)
        self.functions = {t.name: tool_function(t) for t in self.tools}
        self.tools_description = tools_description or describe_tools(self.tools.specs())
        self.reset_chat()

    # --- run mode ----------------------------------------------------------------------------------------
    def run_prompt(self, task: str) -> Prompt:
        """The prompt run mode sends for `task` (text, or messages for prompt_style="chat")."""
        text = run_prompt(task, self.tools_description, self.run_template)
        if self.prompt_style == "text":
            return text
        if self.prompt_style == "qwen":
            return _qwen_messages(text)
        body = text.rstrip()[: -len(RUN_CUE)].rstrip()
        return [Message.user(body), Message.assistant(RUN_CUE)]

    def generate_run(self, task: str) -> str:
        """The model's completion for `task` (continuing `I will use the following`), stopped at `Task:`."""
        return self._generate(self.run_prompt(task), RUN_STOP)

    def _generate(self, prompt: Prompt, stop: tuple[str, ...]) -> str:
        if self.prompt_style != "qwen":
            return self.llm.generate(prompt, stop=stop, config=self.config).text
        text = self.llm.generate(prompt, config=self.config).text
        for word in stop:
            renamed = _qwen_rename(word)
            if text.endswith(renamed):
                text = text[: -len(renamed)]
        for name, alias in _QWEN_RENAMES:
            text = text.replace(alias, name)
        return text

    def run(self, task: str, **inputs: Any) -> HfAgentResult:
        """Solve one task: generate, split into explanation and code, evaluate the code with `inputs` bound."""
        completion = self.generate_run(task)
        explanation, code = parse_run(completion)
        return HfAgentResult(completion, explanation, code, self.evaluate(code, dict(inputs)))

    # --- chat mode ---------------------------------------------------------------------------------------
    def reset_chat(self) -> None:
        """Forget the transcript and the variables of the current chat."""
        self.chat_history = chat_preamble(self.tools_description, self.chat_template)
        self.chat_state: dict[str, Any] = {}

    def chat_prompt(self, message: str) -> Prompt:
        """The prompt the next chat turn sends: the transcript so far plus `message`."""
        text = self.chat_history + chat_turn(message, self.chat_turn_template)
        if self.prompt_style == "qwen":
            return _qwen_messages(text)
        return text if self.prompt_style == "text" else [Message.user(text)]

    def record_chat_turn(self, message: str, completion: str) -> None:
        """Append a turn and the model's answer to the transcript (done by `chat`; public for replays)."""
        self.chat_history += chat_turn(message, self.chat_turn_template) + completion + "\n"

    def generate_chat(self, message: str) -> str:
        """The model's answer to `message`, stopped at `Human:` or `=====`; the transcript is extended."""
        completion = self._generate(self.chat_prompt(message), CHAT_STOP)
        self.record_chat_turn(message, completion)
        return completion

    def chat(self, message: str, **inputs: Any) -> HfAgentResult:
        """One chat turn: `inputs` join the chat's variables, the answer's code runs against them."""
        completion = self.generate_chat(message)
        explanation, code = parse_chat(completion)
        self.chat_state.update(inputs)
        return HfAgentResult(completion, explanation, code, self.evaluate(code, self.chat_state))

    # --- evaluation --------------------------------------------------------------------------------------
    def evaluate(self, code: str, state: dict[str, Any]) -> Evaluation:
        """Run `code` over this agent's tools in the restricted evaluator (updates `state`)."""
        return evaluate(code, self.functions, state, builtins=self.builtins, limits=self.limits)


def _qwen_rename(text: str) -> str:
    for name, alias in _QWEN_RENAMES:
        text = text.replace(name, alias)
    return text


def _qwen_messages(text: str) -> list[Message]:
    """QWenAgent's input: Qwen-1 `model.chat`'s default system turn, the renamed prompt as the user turn."""
    return [Message.system("You are a helpful assistant."), Message.user(_qwen_rename(text))]
