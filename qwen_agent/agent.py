"""The agent loop: ask the model, run the tools it names, feed the results back, until a final answer.

Everything the model can fix (an unknown tool, bad arguments, a tool that raised) goes back to it as the
observation. `run_stream` yields a `Step` per event; `run` returns the final answer; `run_result` returns the
whole record. Display is left to whoever consumes the steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from qwen_agent.errors import ConfigurationError, ToolArgumentError, ToolNotFoundError
from qwen_agent.llm.base import LLM
from qwen_agent.planner import Planner, ReactPlanner
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import AgentResult, GenerationConfig, Message, Step, ToolCall, Usage
from qwen_agent.text import truncate_middle
from qwen_agent.tools.registry import ToolLike, ToolRegistry

Query = str | Sequence[Message]


class Agent:
    """A tool-using agent over any `LLM`.

    Args:
        llm: the model; when None, taken from the environment (see `qwen_agent.settings`).
        tools: Tool objects, typed functions (turned into tools by `@tool`), and tool providers such as an
            `MCPToolset` or an `{"mcpServers": ...}` mapping (their tools are listed when first needed).
        system: a system message put before the conversation.
        planner: how turns are asked of the model; default Qwen's ReAct format (`ReactPlanner(lang)`).
        lang: language of the ReAct instructions ("en" or "zh") when no planner is given.
        max_steps: model turns allowed per run; reaching it ends with a partial result, not an exception.
        config: generation settings passed to the LLM.
        max_observation_chars: longer tool results are cut in the middle (head and tail kept, the cut said) so
            one tool cannot flood the context window; 0 disables.
    """

    def __init__(
        self,
        llm: LLM | None = None,
        tools: Iterable[ToolLike] = (),
        *,
        system: str | None = None,
        planner: Planner | None = None,
        lang: Lang = "en",
        max_steps: int = 8,
        config: GenerationConfig | None = None,
        max_observation_chars: int = 20_000,
    ) -> None:
        if max_steps < 1:
            raise ConfigurationError("max_steps must be at least 1")
        if llm is None:
            from qwen_agent.settings import Settings

            llm = Settings.from_env().make_llm()
        self.llm = llm
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.system = system
        self.planner = planner or ReactPlanner(lang)
        self.max_steps = max_steps
        self.config = config
        self.max_observation_chars = max_observation_chars

    # --- public API ---------------------------------------------------------------------------------------
    def run(self, query: Query, *, history: Sequence[Message] = ()) -> str:
        """The final answer (or the partial result when `max_steps` ran out).

        `query` is the user's question, or a list of messages ending with it; `history` holds earlier turns
        (`AgentResult.messages` of the previous run can be passed as it is).
        """
        return self.run_result(query, history=history).answer

    def run_result(self, query: Query, *, history: Sequence[Message] = ()) -> AgentResult:
        """The answer, every step, the resulting conversation and the token usage."""
        steps: list[Step] = []
        record = _Record()
        for step in self._loop(query, history, record):
            steps.append(step)
        last = steps[-1]
        return AgentResult(
            answer=last.answer or "",
            finished=last.kind == "final",
            steps=steps,
            messages=record.messages,
            usage=record.usage,
        )

    def run_stream(self, query: Query, *, history: Sequence[Message] = ()) -> Iterator[Step]:
        """Yield `action`, `observation`, and finally one `final` or `stopped` step."""
        yield from self._loop(query, history, _Record())

    # --- the loop -----------------------------------------------------------------------------------------
    def _loop(self, query: Query, history: Sequence[Message], record: _Record) -> Iterator[Step]:
        messages = self._start(query, history)
        record.messages = messages
        specs = self.tools.specs()
        index = 0
        last_observation: str | None = None
        for _ in range(self.max_steps):
            turn = self.planner.plan(self.llm, messages, specs, self.config)
            record.usage = record.usage + turn.usage
            messages.append(turn.message)
            if not turn.message.tool_calls:
                yield Step(kind="final", index=index, thought=turn.thought, answer=turn.message.content or "",
                           raw=turn.raw)
                return
            for call in turn.message.tool_calls:
                yield Step(kind="action", index=index, thought=turn.thought, tool_call=call, raw=turn.raw)
                observation, is_error = self.call_tool(call)
                messages.append(Message.tool(observation, tool_call_id=call.id, name=call.name))
                yield Step(kind="observation", index=index, tool_call=call, observation=observation,
                           is_error=is_error)
                last_observation = observation
                index += 1
        partial = last_observation if last_observation is not None else ""
        reason = f"stopped after {self.max_steps} model turns without a final answer"
        yield Step(kind="stopped", index=index, answer=partial, reason=reason)

    def _start(self, query: Query, history: Sequence[Message]) -> list[Message]:
        messages: list[Message] = []
        if self.system:  # the agent's own system message replaces any in the history (e.g. result.messages)
            messages.append(Message.system(self.system))
            history = [m for m in history if m.role != "system"]
        messages.extend(history)
        if isinstance(query, str):
            messages.append(Message.user(query))
        else:
            messages.extend(query)
        if not any(m.role == "user" for m in messages):
            raise ConfigurationError("the conversation has no user message to answer")
        return messages

    def call_tool(self, call: ToolCall) -> tuple[str, bool]:
        """Run one call; returns (observation, is_error). Failures become text the model can act on."""
        try:
            tool = self.tools.resolve(call.name)
        except ToolNotFoundError as e:
            return f"Error: {e}", True
        try:
            return truncate_middle(tool.call(call.arguments), self.max_observation_chars), False
        except ToolArgumentError as e:
            return f"Error: {e}", True
        except Exception as e:  # noqa: BLE001 - a failing tool is reported to the model, not raised
            return f"Error: {tool.name} raised {type(e).__name__}: {e}", True

    def close(self) -> None:
        """Close tools that hold resources (kernels, MCP servers) and the LLM."""
        self.tools.close()
        self.llm.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Record:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.usage = Usage()
