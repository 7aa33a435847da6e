"""Running the tool calls of one model turn: concurrently in a bounded pool, each under its own deadline.

Async tools are awaited on the loop; blocking ones run in daemon threads, except tools marked
`concurrent = False` (the code interpreter), whose calls all run on one long-lived thread of their own: a
kernel dies with the thread that started it, so a per-call thread would take the session with it. A call that passes its deadline
becomes an error result for that call only (the tool is asked to `interrupt`; a thread that ignores it is left
to finish on its own, its result dropped) while its siblings finish. Results come back in call order.
Everything the model can fix (unknown tool, bad arguments, a tool that raised or hung) is an observation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from qwen_agent.aio import HomeThread, in_thread
from qwen_agent.errors import ConfigurationError, ToolArgumentError, ToolNotFoundError
from qwen_agent.schema import ToolCall
from qwen_agent.telemetry.tracing import ToolRecord, tool_call
from qwen_agent.text import truncate_middle
from qwen_agent.tools.base import Tool
from qwen_agent.tools.registry import ToolRegistry


@dataclass(frozen=True)
class ToolOutcome:
    """The observation text of one call, and whether it reports a failure."""

    observation: str
    is_error: bool = False
    seconds: float = 0.0  # from the call's start to its outcome (waiting for a lock or the pool excluded)


class ToolRunner:
    """Runs calls against a registry.

    Args:
        tools: the registry the calls name.
        parallel: run the calls of a turn at the same time (True) or one after another (False).
        max_workers: at most this many calls of a turn run at once.
        timeout: seconds each call may take (its own deadline, from its start); None waits forever.
        max_observation_chars: longer results are cut in the middle; 0 disables.
    """

    def __init__(self, tools: ToolRegistry, *, parallel: bool = True, max_workers: int = 8,
                 timeout: float | None = 120.0, max_observation_chars: int = 20_000) -> None:
        check_tool_settings(max_workers, timeout)
        self.tools = tools
        self.parallel = parallel
        self.max_workers = max_workers
        self.timeout = timeout
        self.max_observation_chars = max_observation_chars

    async def run(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        """Every call's outcome, in call order. Cancelling this cancels the calls still running."""
        if not self.parallel or len(calls) < 2:
            return [await self.run_one(call) for call in calls]
        pool = asyncio.Semaphore(self.max_workers)
        serial: dict[str, asyncio.Lock] = {}  # one lock per tool whose calls must not overlap

        async def bounded(call: ToolCall) -> ToolOutcome:
            tool = self._find(call.name)
            lock = serial.setdefault(tool.name, asyncio.Lock()) if tool and not tool.concurrent else None
            async with pool:
                if lock is None:
                    return await self.run_one(call)
                async with lock:
                    return await self.run_one(call)

        return list(await asyncio.gather(*(bounded(call) for call in calls)))

    async def run_one(self, call: ToolCall) -> ToolOutcome:
        """One call, under its deadline; failures become error observations. Traced and counted
        (`telemetry.tracing.tool_call`)."""
        started = time.monotonic()
        with tool_call(call) as record:
            outcome = await self._attempt(call, record)
            record.result = outcome.observation
        return dataclasses.replace(outcome, seconds=time.monotonic() - started)

    async def _attempt(self, call: ToolCall, record: ToolRecord) -> ToolOutcome:
        try:
            tool = self.tools.resolve(call.name)
        except ToolNotFoundError as e:
            return _failed(record, "ToolNotFoundError", f"Error: {e}")
        record.tool = tool.name
        try:
            text = await self._deadline(tool, call)
        except ToolArgumentError as e:
            return _failed(record, "ToolArgumentError", f"Error: {e}{self._owners_of_extras(tool, call)}")
        except asyncio.TimeoutError:  # the builtin TimeoutError from 3.11 on
            return _failed(record, "timeout", f"Error: {tool.name} did not finish within {self.timeout:g} s, so its "
                           "result was dropped (other calls were not affected). Try smaller work or another approach.")
        except Exception as e:  # noqa: BLE001 - a failing tool is reported to the model, not raised
            return _failed(record, type(e).__name__, f"Error: {tool.name} raised {type(e).__name__}: {e}")
        return ToolOutcome(truncate_middle(text, self.max_observation_chars))

    async def _deadline(self, tool: Tool, call: ToolCall) -> str:
        if tool.is_async:
            work = tool.acall(call.arguments)
        elif tool.concurrent:
            work = in_thread(tool.call, call.arguments, name=f"qwen-agent-tool-{tool.name}")
        else:
            work = home_thread(tool).run(tool.call, call.arguments)
        try:
            return await asyncio.wait_for(work, self.timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            if not tool.is_async:
                _interrupt(tool)  # the thread is abandoned; ask the tool to stop it
            raise

    def _owners_of_extras(self, tool: Tool, call: ToolCall) -> str:
        """Names the other tool that takes the arguments `tool` does not: small models mix up the offered tools'
        parameters (the 0.5B gives the calculator `from_currency` and `to_currency`). Empty when none does."""
        extras = set(call.parsed_arguments() or {}) - set(tool.parameters.get("properties", {}))
        owners = [t.name for t in self.tools if t is not tool and extras <= set(t.parameters.get("properties", {}))]
        if not extras or not owners:
            return ""
        listed = ", ".join(sorted(extras))
        return f" ({listed} {'is an argument' if len(extras) == 1 else 'are arguments'} of {' or '.join(owners)}.)"

    def _find(self, name: str) -> Tool | None:
        try:
            return self.tools.resolve(name)
        except ToolNotFoundError:
            return None


def _failed(record: ToolRecord, error_type: str, observation: str) -> ToolOutcome:
    record.error_type = error_type
    return ToolOutcome(observation, True)


def check_tool_settings(max_workers: int, timeout: float | None) -> None:
    if max_workers < 1:
        raise ConfigurationError("max_parallel_tools must be at least 1")
    if timeout is not None and timeout <= 0:
        raise ConfigurationError("tool_timeout must be positive (or None for no deadline)")


_homes: weakref.WeakKeyDictionary[Tool, HomeThread] = weakref.WeakKeyDictionary()
_homes_lock = threading.Lock()


def home_thread(tool: Tool) -> HomeThread:
    """The thread that runs every blocking call of `tool` (made on first use, ended when the tool is freed)."""
    with _homes_lock:
        home = _homes.get(tool)
        if home is None:
            home = _homes[tool] = HomeThread(f"qwen-agent-tool-{tool.name}")
            weakref.finalize(tool, home.close)
        return home


def _interrupt(tool: Tool) -> None:
    with contextlib.suppress(Exception):  # best effort: the call's result is already decided
        tool.interrupt()


__all__ = ["ToolOutcome", "ToolRunner", "check_tool_settings", "home_thread"]
