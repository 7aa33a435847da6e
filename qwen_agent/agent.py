"""The agent loop: ask the model, run the tools it names, feed the results back, until a final answer.

Everything the model can fix (an unknown tool, bad arguments, a tool that raised or hung) goes back to it as
the observation. `run_stream` yields a `Step` per event; `run` returns the final answer; `run_result` returns
the whole record; `arun`, `arun_result` and `astream` are the same for asyncio. Display is left to whoever
consumes the steps.

The episode is written once, as a generator that yields steps and asks for I/O (`_Plan`: a model turn,
`_Tools`: a batch of calls) without doing any; `_drive` and `_adrive` answer those asks with blocking or async
calls. So the sync methods never touch an event loop for the model (they work inside Jupyter's running loop),
and the async ones never block it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qwen_agent.aio import in_thread, run_sync
from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import ToolFormat
from qwen_agent.llm.base import LLM
from qwen_agent.planner import FormatPlanner, Planner, TextCallback
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import AgentResult, GenerationConfig, Message, Step, ToolCall, ToolSpec, Turn, Usage
from qwen_agent.tools.registry import ToolLike, ToolRegistry
from qwen_agent.tools.runner import ToolOutcome, ToolRunner, check_tool_settings

Query = str | Sequence[Message]


class Agent:
    """A tool-using agent over any `LLM`.

    Args:
        llm: the model; when None, taken from the environment (see `qwen_agent.settings`).
        tools: Tool objects, typed functions (turned into tools by `@tool`), and tool providers such as an
            `MCPToolset` or an `{"mcpServers": ...}` mapping (their tools are listed when first needed).
        system: a system message put before the conversation.
        tool_format: how tools are shown to the model and its calls read: "auto" (default: the format the
            model's chat template renders, e.g. Hermes `<tool_call>` for Qwen2.5/3; Hermes rendered by us on the
            openai backend; ReAct for Qwen-1), "hermes", "qwen3_coder", "react", "server" (OpenAI `tools` sent
            to a server that parses calls itself), or a `ToolFormat` object.
        tool_choice: "auto", "none", "required" or a tool name; a forced call is forced once per query.
        parallel_tool_calls: keep every call of a turn (True) or only the first.
        parallel_tools: run the kept calls of a turn at the same time (True), results fed back in call order,
            or one after another (False). Tools with `concurrent = False` (the code interpreter) always take
            turns.
        max_parallel_tools: at most this many calls run at once.
        tool_timeout: seconds each call may take, from its start; a call past it becomes an error observation
            for that call only. None: no deadline.
        lang: a shortcut for ReAct in that language ("en" or "zh") when no tool_format is given.
        planner: a custom planner; replaces the four settings above.
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
        tool_format: str | ToolFormat | None = None,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        lang: Lang | None = None,
        planner: Planner | None = None,
        max_steps: int = 8,
        config: GenerationConfig | None = None,
        max_observation_chars: int = 20_000,
        parallel_tools: bool = True,
        max_parallel_tools: int = 8,
        tool_timeout: float | None = 120.0,
    ) -> None:
        if max_steps < 1:
            raise ConfigurationError("max_steps must be at least 1")
        check_tool_settings(max_parallel_tools, tool_timeout)
        if llm is None:
            from qwen_agent.settings import Settings

            llm = Settings.from_env().make_llm()
        self.llm = llm
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.system = system
        self.planner = planner or FormatPlanner(
            tool_format, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls, lang=lang
        )
        self.max_steps = max_steps
        self.config = config
        self.max_observation_chars = max_observation_chars
        self.parallel_tools = parallel_tools
        self.max_parallel_tools = max_parallel_tools
        self.tool_timeout = tool_timeout

    @property
    def runner(self) -> ToolRunner:
        """Runs the calls of a turn with the agent's current tools and settings (a copied agent may swap
        `tools`, as the web UI does for each conversation's own interpreter)."""
        return ToolRunner(self.tools, parallel=self.parallel_tools, max_workers=self.max_parallel_tools,
                          timeout=self.tool_timeout, max_observation_chars=self.max_observation_chars)

    # --- public API ---------------------------------------------------------------------------------------
    def run(self, query: Query, *, history: Sequence[Message] = ()) -> str:
        """The final answer (or the partial result when `max_steps` ran out).

        `query` is the user's question, or a list of messages ending with it; `history` holds earlier turns
        (`AgentResult.messages` of the previous run can be passed as it is).
        """
        return self.run_result(query, history=history).answer

    def run_result(
        self,
        query: Query,
        *,
        history: Sequence[Message] = (),
        on_text: TextCallback | None = None,
        on_step: Callable[[Step], None] | None = None,
    ) -> AgentResult:
        """The answer, every step, the resulting conversation and the token usage.

        `on_text` receives the model's answer text as it is generated, `on_step` each step as it happens
        (for display: a step can take a while on a CPU)."""
        record = _Record()
        for step in self._drive(query, history, record, on_text):
            record.add(step, on_step)
        return record.result()

    def run_stream(
        self, query: Query, *, history: Sequence[Message] = (), on_text: TextCallback | None = None
    ) -> Iterator[Step]:
        """Yield `action`, `observation`, and finally one `final` or `stopped` step.

        `on_text`, when given, receives the model's answer text as it is generated (a step can take a while
        on a CPU); the steps still carry everything."""
        yield from self._drive(query, history, _Record(), on_text)

    async def arun(self, query: Query, *, history: Sequence[Message] = ()) -> str:
        """`run` for asyncio: many agents can run at once in one event loop."""
        return (await self.arun_result(query, history=history)).answer

    async def arun_result(
        self,
        query: Query,
        *,
        history: Sequence[Message] = (),
        on_text: TextCallback | None = None,
        on_step: Callable[[Step], None] | None = None,
    ) -> AgentResult:
        """`run_result` for asyncio. Cancelling it cancels the model request and the tool calls in flight."""
        record = _Record()
        async for step in self._adrive(query, history, record, on_text):
            record.add(step, on_step)
        return record.result()

    async def astream(
        self, query: Query, *, history: Sequence[Message] = (), on_text: TextCallback | None = None
    ) -> AsyncIterator[Step]:
        """`run_stream` for asyncio. Leaving early: close it (`contextlib.aclosing`) to stop the work."""
        async for step in self._adrive(query, history, _Record(), on_text):
            yield step

    # --- the episode, written once; the drivers do its I/O --------------------------------------------------
    def _episode(self, query: Query, history: Sequence[Message], record: _Record) -> Generator[Any, Any, None]:
        messages = self._start(query, history)
        record.messages = messages
        index = 0
        last_observation: str | None = None
        for _ in range(self.max_steps):
            turn: Turn = yield _Plan(messages)
            record.usage = record.usage + turn.usage
            messages.append(turn.message)
            calls = turn.message.tool_calls or []
            if not calls:
                yield Step(kind="final", index=index, thought=turn.thought, answer=turn.message.content or "",
                           raw=turn.raw)
                return
            for batch in [calls] if self.parallel_tools else [[call] for call in calls]:
                for i, call in enumerate(batch):
                    yield Step(kind="action", index=index + i, thought=turn.thought, tool_call=call, raw=turn.raw)
                outcomes: list[ToolOutcome] = yield _Tools(batch)
                for call, outcome in zip(batch, outcomes, strict=True):
                    messages.append(Message.tool(outcome.observation, tool_call_id=call.id, name=call.name))
                    yield Step(kind="observation", index=index, tool_call=call, observation=outcome.observation,
                               is_error=outcome.is_error)
                    last_observation = outcome.observation
                    index += 1
        reason = f"stopped after {self.max_steps} model turns without a final answer"
        yield Step(kind="stopped", index=index, answer=last_observation or "", reason=reason)

    def _drive(self, query: Query, history: Sequence[Message], record: _Record,
               on_text: TextCallback | None) -> Iterator[Step]:
        episode = self._episode(query, history, record)
        specs: list[ToolSpec] | None = None
        reply: Any = None
        while (ask := _next(episode, reply)) is not None:
            reply = None
            if isinstance(ask, Step):
                yield ask
            elif isinstance(ask, _Plan):
                specs = self.tools.specs() if specs is None else specs
                args = (self.llm, ask.messages, specs, self.config)
                reply = self.planner.plan(*args, on_text) if on_text else self.planner.plan(*args)
            else:
                reply = run_sync(lambda ask=ask: self.runner.run(ask.calls))

    async def _adrive(self, query: Query, history: Sequence[Message], record: _Record,
                      on_text: TextCallback | None) -> AsyncIterator[Step]:
        episode = self._episode(query, history, record)
        specs: list[ToolSpec] | None = None
        reply: Any = None
        while (ask := _next(episode, reply)) is not None:
            reply = None
            if isinstance(ask, Step):
                yield ask
            elif isinstance(ask, _Plan):
                if specs is None:  # listing a provider's tools may start its servers: not on the loop
                    specs = self.tools.specs() if self.tools.listed else await in_thread(self.tools.specs)
                reply = await self._aplan(ask.messages, specs, on_text)
            else:
                reply = await self.runner.run(ask.calls)

    async def _aplan(self, messages: list[Message], specs: list[ToolSpec], on_text: TextCallback | None) -> Turn:
        args = (self.llm, messages, specs, self.config)
        aplan = getattr(self.planner, "aplan", None)
        if aplan is None:  # a custom planner with only `plan`: run it in a worker thread
            return await in_thread(lambda: self.planner.plan(*args, on_text) if on_text else self.planner.plan(*args))
        return await (aplan(*args, on_text) if on_text else aplan(*args))

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
        """Run one call (under the tool deadline); returns (observation, is_error). Failures become text the
        model can act on."""
        outcome = run_sync(lambda: self.runner.run_one(call))
        return outcome.observation, outcome.is_error

    def close(self) -> None:
        """Close tools that hold resources (kernels, MCP servers) and the LLM."""
        self.tools.close()
        self.llm.close()

    async def aclose(self) -> None:
        """`close` from async code (the LLM's async clients of this loop too)."""
        await in_thread(self.tools.close)
        await self.llm.aclose()

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class _Plan:
    """The episode asks for one model turn over `messages`."""

    messages: list[Message]


@dataclass(frozen=True)
class _Tools:
    """The episode asks for these calls' outcomes, in call order."""

    calls: list[ToolCall]


def _next(episode: Generator[Any, Any, None], reply: Any) -> Any:
    """The episode's next step or ask, given the reply to its last ask; None when it has ended."""
    try:
        return episode.send(reply)
    except StopIteration:
        return None


class _Record:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.usage = Usage()
        self.steps: list[Step] = []

    def add(self, step: Step, on_step: Callable[[Step], None] | None) -> None:
        self.steps.append(step)
        if on_step is not None:
            on_step(step)

    def result(self) -> AgentResult:
        last = self.steps[-1]
        return AgentResult(answer=last.answer or "", finished=last.kind == "final", steps=self.steps,
                           messages=self.messages, usage=self.usage)
