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

import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qwen_agent.aio import in_thread, run_sync
from qwen_agent.episode_policy import EpisodePolicy
from qwen_agent.errors import ConfigurationError, RunCancelled
from qwen_agent.formats import ToolFormat
from qwen_agent.formats.json_calls import written_call
from qwen_agent.function_calling import RESTATED_QUESTION
from qwen_agent.grounding import (
    conversation_text,
    invented_figures,
    is_echo,
    is_partly_ungrounded,
    is_ungrounded,
    same_text,
    uncovered_terms,
    ungrounded_numbers,
    uses_results,
)
from qwen_agent.llm.base import LLM
from qwen_agent.planner import FormatPlanner, Planner, TextCallback
from qwen_agent.prompts.answer_turn import (
    after_results_prompt,
    answer_coverage_prompt,
    answer_numbers_prompt,
    answer_turn_prompt,
    invented_tool_prompt,
    ungrounded_prompt,
)
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import (
    AgentResult,
    Decision,
    EpisodeEnd,
    GenerationConfig,
    Message,
    Step,
    ToolCall,
    ToolSpec,
    Turn,
    Usage,
)
from qwen_agent.telemetry.tracing import Episode
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
        max_steps: model turns allowed per run (the answer turn, when asked, comes on top); see `policy`.
        policy: the loop's remedies for a small model's habits (`EpisodePolicy`: repeated calls not run again,
            an answer turn when the model only repeats itself or runs out of steps); see its defaults.
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
        policy: EpisodePolicy | None = None,
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
        self.policy = policy or EpisodePolicy()

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
        cancel: threading.Event | None = None,
        on_raw: TextCallback | None = None,
    ) -> AgentResult:
        """The answer, every step, the resulting conversation and the token usage.

        `on_text` receives the model's answer text as it is generated, `on_step` each step as it happens
        (for display: a step can take a while on a CPU), `on_raw` everything the model writes as it writes it
        (tool-call markup and reasoning included: a draft to watch). Setting `cancel` stops the run: the model
        stops generating, no further tool starts, and the result ends with `end == "cancelled"`."""
        record = _Record()
        for step in self._drive(query, history, record, on_text, _controls(cancel, on_raw)):
            record.add(step, on_step)
        return record.result()

    def run_stream(
        self, query: Query, *, history: Sequence[Message] = (), on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Step]:
        """Yield a `turn` step per model turn, an `observation` per tool call, `notice`s for what the loop
        decided, and finally one `final` or `stopped` step (see `Step`).

        `on_text`, when given, receives the model's answer text as it is generated (a step can take a while
        on a CPU); the steps still carry everything. `cancel`: as in `run_result`."""
        yield from self._drive(query, history, _Record(), on_text, _controls(cancel, None))

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
        cancel: threading.Event | None = None,
        on_raw: TextCallback | None = None,
    ) -> AgentResult:
        """`run_result` for asyncio. Cancelling it cancels the model request and the tool calls in flight."""
        record = _Record()
        async for step in self._adrive(query, history, record, on_text, _controls(cancel, on_raw)):
            record.add(step, on_step)
        return record.result()

    async def astream(
        self, query: Query, *, history: Sequence[Message] = (), on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> AsyncIterator[Step]:
        """`run_stream` for asyncio. Leaving early: close it (`contextlib.aclosing`) to stop the work."""
        async for step in self._adrive(query, history, _Record(), on_text, _controls(cancel, None)):
            yield step

    # --- the episode, written once; the drivers do its I/O --------------------------------------------------
    def _episode(self, query: Query, history: Sequence[Message], record: _Record) -> Generator[Any, Any, None]:
        messages = self._start(query, history)
        record.messages = messages
        ran = _Ran()
        index = 0
        confirmed = False  # an ungrounded call was put to the model once in this episode
        objected = False  # an answer was put back to the model once in this episode
        inventing = False  # the model kept writing calls of tools nobody offered
        inserts: list[tuple[int, list[Message]]] = []  # prompt-only messages and where they go in `messages`
        withheld: frozenset[str] = frozenset()  # a tool called with made-up figures is off the offer from then on
        # ReAct reads results inside the assistant's own scratchpad: a user message there would start a new question
        format_for = getattr(self.planner, "format_for", None)
        in_prompt = not (format_for and format_for(self.llm).results_in_scratchpad)
        for index in range(self.max_steps):  # noqa: B007 - the last index is the notice's below
            prompt = _with_inserts(messages, inserts) if inserts else messages
            turn: Turn = yield _Plan(prompt, withheld=withheld)
            record.usage = record.usage + turn.usage
            yield from _turn_steps(index, turn)
            calls = turn.message.tool_calls or []
            invented = self._invented_figures(calls, messages) if not withheld else None
            if invented is not None:  # the turn again, without that tool: the model's next choice of tool
                call, figures = invented
                withheld = frozenset([call.name])
                yield Step(kind="notice", index=index, decision="invented_figure", tool_call=call,
                           reason=f"call not run: its arguments hold {', '.join(figures)}, found nowhere in the "
                                  f"conversation; the turn was asked again without {call.name}")
                turn = yield _Plan(prompt, withheld=withheld)
                record.usage = record.usage + turn.usage
                yield from _turn_steps(index, turn)
                calls = turn.message.tool_calls or []
            if withheld and any(c.name in withheld for c in calls):
                calls = [c for c in calls if c.name not in withheld]
                turn = turn.model_copy(update={"message": turn.message.model_copy(update={"tool_calls": calls})})
                if not calls and not (turn.message.content or "").strip():
                    inventing = not ran.calls  # it kept to the tool it was denied: the answer turn
                    break
            if calls and self.policy.confirm_ungrounded and not confirmed:
                text = conversation_text(messages)
                doubtful = [c for c in calls if not ran.has(c) and is_ungrounded(c, text)]
                if doubtful:
                    confirmed = True
                    for call in doubtful:
                        yield Step(kind="notice", index=index, decision="ungrounded_call", tool_call=call,
                                   reason="call not run: its arguments appear nowhere in the conversation; the "
                                          "model was asked to confirm it or answer directly")
                    turn = yield _Plan([*messages, Message.user(ungrounded_prompt(doubtful))])
                    record.usage = record.usage + turn.usage
                    yield from _turn_steps(index, turn)
                    calls = turn.message.tool_calls or []
            objection = None if calls or objected or not in_prompt or index == self.max_steps - 1 else \
                self._objection(turn.message.content or "", messages, ran)
            if objection is not None:  # the answer is put back to the model once, with what is wrong with it
                objected = True
                yield Step(kind="notice", index=index, decision=objection.decision, reason=objection.reason)
                shown = [turn.message] if objection.read_back else []
                inserts.append((len(messages), [*shown, _prompt_only(objection.prompt)]))
                continue
            if not calls and turn.usage.repeats_avoided and self.policy.answer_turn and ran.calls \
                    and not uses_results(turn.message.content or "", messages):
                break  # steered off a repeated call, it wrote from none of the results: the answer turn states them
            if not calls and objected and self.policy.answer_turn and written_call(turn.message.content or ""):
                inventing = True  # told there is no such tool, it wrote another: the answer turn offers none
                break
            if not calls:
                messages.append(turn.message)
                record.end = "answer"
                yield Step(kind="final", index=index, answer=turn.message.content or "", reason="the model answered")
                return
            repeats = {c.id for c in calls if self.policy.skip_repeats and ran.has(c)}
            if calls[0].id in repeats and self.policy.skip_ungrounded_after_repeat:
                text = conversation_text(messages)
                wandering = [c for c in calls[1:] if c.id not in repeats and is_partly_ungrounded(c, text)]
                for call in wandering:
                    yield Step(kind="notice", index=index, decision="ungrounded_after_repeat", tool_call=call,
                               reason="call not run: the turn opened by repeating an earlier call, and this one "
                                      "uses values found nowhere in the conversation")
                if wandering:
                    calls = [c for c in calls if c not in wandering]
                    turn = turn.model_copy(update={"message": turn.message.model_copy(update={"tool_calls": calls})})
            for call in calls:
                if call.id in repeats:
                    yield Step(kind="notice", index=index, decision="repeat_not_run", tool_call=call,
                               reason="repeated call not run again: the same call, or its own earlier result fed "
                                      "back to it, already ran in this episode")
            if len(repeats) == len(calls):  # the model only repeats itself: its turn is left out
                break
            messages.append(turn.message)
            results: dict[str, Message] = {}
            fresh = [c for c in calls if c.id not in repeats]
            for batch in [fresh] if self.parallel_tools else [[call] for call in fresh]:
                outcomes: list[ToolOutcome] = yield _Tools(batch)
                for call, outcome in zip(batch, outcomes, strict=True):
                    results[call.id] = Message.tool(outcome.observation, tool_call_id=call.id, name=call.name)
                    yield Step(kind="observation", index=index, tool_call=call, observation=outcome.observation,
                               is_error=outcome.is_error, seconds=outcome.seconds)
            stale = self.policy.answer_turn and all(ran.returned(results[c.id]) for c in fresh)
            for call in calls:  # results in call order; a repeat is answered with its earlier result
                result = results.get(call.id) or ran.result_of(call, call.id)
                messages.append(result)
                ran.add(call, result)
            if self.policy.ask_after_results and in_prompt:
                inserts.append((len(messages), [_prompt_only(after_results_prompt(_question(messages).content or ""))]))
            if stale:  # every new call brought back what an earlier call already did: nothing more to learn
                break
        else:
            index = self.max_steps - 1
            yield Step(kind="notice", index=index, decision="max_steps",
                       reason=f"{self.max_steps} model turns without a final answer")
        yield from self._answer_turn(messages, ran, index + 1, record, direct=inventing)

    def _invented_figures(self, calls: list[ToolCall], messages: list[Message]) -> tuple[ToolCall, list[str]] | None:
        """The first call whose numeric arguments hold figures the conversation never gave, with them."""
        if not self.policy.check_call_figures:
            return None
        return next(((c, figures) for c in calls if (figures := invented_figures(c, messages))), None)

    def _objection(self, answer: str, messages: list[Message], ran: _Ran) -> _Objection | None:
        """What is wrong with an answer, when the policy checks for it."""
        question = _question(messages).content or ""
        invented = written_call(answer) if self.policy.check_invented_tools else None
        if invented is not None:
            return _Objection("invented_tool", f"answer not taken: it is a call of {invented}, which is no tool here; "
                              "the model was asked to call an offered tool or answer in plain words",
                              invented_tool_prompt(question, invented))
        uncovered = uncovered_terms(answer, question, *zip(*ran.calls, strict=True)) \
            if self.policy.check_answer_coverage and ran.calls else []
        if uncovered:
            # not read back: shown their answer, both real models wrote it again word for word
            return _Objection("uncovered_answer", f"answer not taken: it speaks of {', '.join(uncovered)}, for which "
                              "no tool was called; the model was asked to call for that part or answer from the "
                              "results", answer_coverage_prompt(question, uncovered), read_back=False)
        numbers = ungrounded_numbers(answer, messages) if self.policy.check_answer_numbers and ran.calls else []
        if numbers:
            return _Objection("ungrounded_answer", f"answer not taken: it states {', '.join(numbers)}, found in no "
                              "tool result or message; the model was asked to call for what is missing or answer "
                              "from the results", answer_numbers_prompt(question, numbers))
        return None

    def _answer_turn(self, messages: list[Message], ran: _Ran, index: int, record: _Record,
                     direct: bool = False) -> Generator[Any, Any, None]:
        """Ask for the answer with no tools on offer and the results stated plainly, or `direct`ly, the question
        alone, when no tool ran (or stop, when that is turned off or no tool ran for calls that were made)."""
        if not self.policy.answer_turn or not (ran.calls or direct):
            record.end = "max_steps"
            yield Step(kind="stopped", index=index, answer=ran.last_observation, reason="no final answer")
            return
        source = "from the tool results" if ran.calls else "directly"
        yield Step(kind="notice", index=index, decision="answer_turn",
                   reason=f"asked the model for its answer {source}, with no tools on offer")
        turn: Turn = yield _Plan(answer_turn_messages(messages, ran.calls), answer_turn=True)
        record.usage = record.usage + turn.usage
        yield from _turn_steps(index, turn)
        answer = (turn.message.content or "").strip()
        # the 0.5B, asked "Convert 1,000,000 JPY to USD." with the result beside it, wrote the question back
        if not answer or same_text(answer, _question(messages).content or ""):
            record.end = "max_steps"
            yield Step(kind="stopped", index=index, answer=ran.last_observation,
                       reason="the model gave no answer when asked for one")
            return
        messages.append(Message.assistant(answer, None, turn.message.reasoning_content))
        record.end = "answer_turn"
        yield Step(kind="final", index=index, answer=answer, reason=f"answered when asked, {source}")

    def _drive(self, query: Query, history: Sequence[Message], record: _Record,
               on_text: TextCallback | None, controls: dict[str, Any]) -> Iterator[Step]:
        with Episode(self.llm.model_name, self._format_name) as telemetry:
            yield from telemetry.steps(self._drive_steps(query, history, record, on_text, controls, telemetry))

    def _drive_steps(self, query: Query, history: Sequence[Message], record: _Record, on_text: TextCallback | None,
                     controls: dict[str, Any], telemetry: Episode) -> Iterator[Step]:
        episode = self._episode(query, history, record)
        specs: list[ToolSpec] | None = None
        reply: Any = None
        while (ask := _next(episode, reply)) is not None:
            reply = None
            if isinstance(ask, Step):
                yield ask
                continue
            if "cancel" in controls and controls["cancel"].is_set():
                yield record.cancelled(episode)
                return
            try:
                if isinstance(ask, _Plan):
                    specs = self.tools.specs() if specs is None else specs
                    planner, offered = self._turn_setup(ask, specs)
                    with telemetry.model_turn(ask.messages) as got:
                        got(planner.plan(self.llm, ask.messages, offered, self.config, on_text, **controls))
                    reply = self._without_calls(got.turn, specs) if ask.answer_turn else got.turn
                else:
                    with telemetry.current():
                        reply = run_sync(lambda ask=ask: self.runner.run(ask.calls))
            except RunCancelled:
                yield record.cancelled(episode)
                return

    async def _adrive(self, query: Query, history: Sequence[Message], record: _Record,
                      on_text: TextCallback | None, controls: dict[str, Any]) -> AsyncIterator[Step]:
        with Episode(self.llm.model_name, self._format_name) as telemetry:
            async for step in self._adrive_steps(query, history, record, on_text, controls, telemetry):
                telemetry.step(step)
                yield step

    async def _adrive_steps(self, query: Query, history: Sequence[Message], record: _Record,
                            on_text: TextCallback | None, controls: dict[str, Any],
                            telemetry: Episode) -> AsyncIterator[Step]:
        episode = self._episode(query, history, record)
        specs: list[ToolSpec] | None = None
        reply: Any = None
        while (ask := _next(episode, reply)) is not None:
            reply = None
            if isinstance(ask, Step):
                yield ask
                continue
            if "cancel" in controls and controls["cancel"].is_set():
                yield record.cancelled(episode)
                return
            try:
                if isinstance(ask, _Plan):
                    if specs is None:  # listing a provider's tools may start its servers: not on the loop
                        specs = self.tools.specs() if self.tools.listed else await in_thread(self.tools.specs)
                    planner, offered = self._turn_setup(ask, specs)
                    with telemetry.model_turn(ask.messages) as got:
                        got(await self._aplan(planner, ask.messages, offered, on_text, controls))
                    reply = self._without_calls(got.turn, specs) if ask.answer_turn else got.turn
                else:
                    with telemetry.current():
                        reply = await self.runner.run(ask.calls)
            except RunCancelled:
                yield record.cancelled(episode)
                return

    def _format_name(self) -> str:
        format_for = getattr(self.planner, "format_for", None)
        return format_for(self.llm).name if format_for else type(self.planner).__name__

    def _turn_setup(self, ask: _Plan, specs: list[ToolSpec]) -> tuple[Planner, list[ToolSpec]]:
        """The planner and the tools on offer for this turn (none, and nothing forced, for the answer turn)."""
        if ask.answer_turn:
            return _answering(self.planner), []
        avoiding = getattr(self.planner, "avoiding_repeats", None) if self.policy.avoid_repeats else None
        offered = [s for s in specs if s.name not in ask.withheld] if ask.withheld else specs
        return (avoiding() if avoiding else self.planner), offered

    def _without_calls(self, turn: Turn, specs: list[ToolSpec]) -> Turn:
        """An answer turn whose text is a tool call after all (no tools were on offer, so nothing read it as
        one): only the text around the call is the answer."""
        request = getattr(self.planner, "request", None)
        if request is None or not specs:
            return turn
        parsed = request(self.llm, specs).format.parse(turn.raw, tools=specs)
        if not parsed.tool_calls:
            return turn
        message = turn.message.model_copy(update={"content": parsed.content or ""})
        return turn.model_copy(update={"message": message})

    async def _aplan(self, planner: Planner, messages: list[Message], specs: list[ToolSpec],
                     on_text: TextCallback | None, controls: dict[str, Any]) -> Turn:
        args = (self.llm, messages, specs, self.config, on_text)
        aplan = getattr(planner, "aplan", None)
        if aplan is None:  # a custom planner with only `plan`: run it in a worker thread
            return await in_thread(lambda: planner.plan(*args, **controls))
        return await aplan(*args, **controls)

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
    """The episode asks for one model turn over `messages` (with no tools when `answer_turn`)."""

    messages: list[Message]
    answer_turn: bool = False
    withheld: frozenset[str] = frozenset()  # tools not on offer this turn (`EpisodePolicy.check_call_figures`)


@dataclass(frozen=True)
class _Objection:
    """An answer not taken: the notice's decision and reason, the prompt-only message that puts it to the model,
    and whether the model reads its answer back first."""

    decision: Decision
    reason: str
    prompt: str
    read_back: bool = True


@dataclass(frozen=True)
class _Tools:
    """The episode asks for these calls' outcomes, in call order."""

    calls: list[ToolCall]


class _Ran:
    """The calls run in this episode and their results, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[ToolCall, Message]] = []
        self._by_identity: dict[tuple[str, str], Message] = {}

    def has(self, call: ToolCall) -> bool:
        return self._earlier(call) is not None

    def result_of(self, call: ToolCall, call_id: str) -> Message:
        earlier = self._earlier(call)
        return Message.tool(earlier.content or "" if earlier else "", tool_call_id=call_id, name=call.name)

    def _earlier(self, call: ToolCall) -> Message | None:
        """The result that already answers `call`: the same call's, or the one it only feeds back to its tool."""
        same = self._by_identity.get(call.identity())
        if same is not None:
            return same
        return next((r for c, r in self.calls if c.name == call.name and is_echo(call, r.content or "")), None)

    def returned(self, result: Message) -> bool:
        """An earlier call of the same tool returned exactly this."""
        return any(r.name == result.name and r.content == result.content for _, r in self.calls)

    def add(self, call: ToolCall, result: Message) -> None:
        if not self.has(call):
            self.calls.append((call, result))
            self._by_identity[call.identity()] = result

    @property
    def last_observation(self) -> str:
        return self.calls[-1][1].content or "" if self.calls else ""


def answer_turn_messages(messages: Sequence[Message], ran: Sequence[tuple[ToolCall, Message]]) -> list[Message]:
    """The conversation for the answer turn: earlier exchanges without their tool traffic, then one user message
    with this question and every result, stated plainly (or, when no tool ran, the question alone, to answer
    directly)."""
    last_user = max(i for i, m in enumerate(messages) if m.role == "user")
    earlier = [m for m in messages[:last_user] if m.role != "tool" and not (m.role == "assistant" and m.tool_calls)]
    question = messages[last_user].content or ""
    results = [(f"{call.name}({call.arguments})", result.content or "") for call, result in ran]
    # no result: the question as the user asked it (told "no tool is available", the 0.5B answered about tools)
    prompt = answer_turn_prompt(question, results) if results else question
    return [*earlier, Message.user(prompt)]


def _question(messages: Sequence[Message]) -> Message:
    """The user message this episode answers (the last one)."""
    return messages[max(i for i, m in enumerate(messages) if m.role == "user")]


def _prompt_only(text: str) -> Message:
    """A user message the loop puts in the prompt only; it starts no new user turn (a forced call stays
    answered)."""
    return Message(role="user", content=text, name=RESTATED_QUESTION)


def _with_inserts(messages: Sequence[Message], inserts: Sequence[tuple[int, list[Message]]]) -> list[Message]:
    """`messages` with each insert's messages put at its position (earlier ones kept, so every prompt extends
    the one before)."""
    prompt = list(messages)
    for at, extra in reversed(inserts):  # the last first, so the earlier positions still hold
        prompt[at:at] = extra
    return prompt


def _turn_steps(index: int, turn: Turn) -> Iterator[Step]:
    """The step of a model turn, and a notice when the backend took back calls it repeated."""
    yield Step(kind="turn", index=index, message=turn.message, raw=turn.raw, usage=turn.usage,
               seconds=turn.seconds, first_token_seconds=turn.first_token_seconds)
    if turn.usage.repeats_avoided:
        yield Step(kind="notice", index=index, decision="repeat_avoided",
                   reason=f"the model began writing a call already run in this episode "
                          f"({turn.usage.repeats_avoided}x); the backend took it back and let it write on")


def _answering(planner: Planner) -> Planner:
    """The planner for the answer turn, which offers no tools (a forced `tool_choice` does not apply there)."""
    answering = getattr(planner, "answering", None)
    return answering() if answering else planner


def _controls(cancel: threading.Event | None, on_raw: TextCallback | None) -> dict[str, Any]:
    """The planner's keyword arguments for a run's cancel token and raw-text watcher (only those given, so a
    custom planner without them still works when they are not used)."""
    return {k: v for k, v in (("cancel", cancel), ("on_raw", on_raw)) if v is not None}


def _drop_unanswered_calls(messages: list[Message]) -> None:
    """Remove a last assistant turn whose calls did not all get results (a run stopped before its tools ran),
    so the conversation can be continued: chat templates and servers expect every call to be answered."""
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    calls = messages[last].tool_calls if last >= 0 else None
    if calls and len(messages) - last - 1 < len(calls):
        del messages[last:]


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
        self.end: EpisodeEnd = "max_steps"

    def add(self, step: Step, on_step: Callable[[Step], None] | None) -> None:
        self.steps.append(step)
        if on_step is not None:
            on_step(step)

    def cancelled(self, episode: Generator[Any, Any, None]) -> Step:
        """The step that ends a cancelled run (the episode is closed; nothing more is asked)."""
        episode.close()
        self.end = "cancelled"
        _drop_unanswered_calls(self.messages)
        index = self.steps[-1].index if self.steps else 0
        return Step(kind="stopped", index=index, answer="", reason="cancelled")

    def result(self) -> AgentResult:
        last = self.steps[-1]
        return AgentResult(answer=last.answer or "", finished=last.kind == "final", steps=self.steps,
                           messages=self.messages, usage=self.usage, end=self.end)
