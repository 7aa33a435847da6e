"""The async side of the agent and the LLM contract, and concurrent tool calls (scripted model text, real tools,
real threads and event loops)."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import aclosing
from typing import Any

import pytest

from qwen_agent import Agent, ScriptedLLM, Tool, tool
from qwen_agent.errors import ConfigurationError
from qwen_agent.llm.base import LLM


def call(name: str, args: str) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


def turn(*calls: str) -> str:
    return "\n".join(calls)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent(responses: list[str], tools: list[Any], **kw: Any) -> Agent:
    return Agent(llm=ScriptedLLM(responses), tools=tools, tool_format="hermes", **kw)


# --- the LLM contract --------------------------------------------------------------------------------------
def test_agenerate_and_astream_trim_stops_as_the_sync_side_does() -> None:
    text = "Paris is big.\nObservation: junk"

    async def both() -> tuple[str, str, str | None]:
        llm = ScriptedLLM([text, text], chunk_size=2)
        gen = await llm.agenerate("q", stop=["Observation:"])
        chunks = [c async for c in llm.astream("q", stop=["Observation:"])]
        return gen.text, "".join(c.text for c in chunks), chunks[-1].finish_reason

    assert asyncio.run(both()) == ("Paris is big.\n", "Paris is big.\n", "stop")


class BlockingScripted(ScriptedLLM):
    """ScriptedLLM without its native async hooks, so the base class's thread defaults are used; its blocking
    `_generate` waits until the event loop has run another task, which only happens if the loop is free."""

    _agenerate = LLM._agenerate
    _astream = LLM._astream

    def __init__(self, responses: list[str]) -> None:
        super().__init__(responses)
        self.loop_ran = threading.Event()
        self.threads: list[str] = []

    def _generate(self, prompt: Any, stop: list[str], config: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        if not self.loop_ran.wait(5):
            raise AssertionError("the event loop was blocked while the model generated")
        return super()._generate(prompt, stop, config)


class WatchedLock:
    """The backend's blocking lock, counting the threads that reach it, so a test waits for "N calls are queued
    on the lock" instead of sleeping; `threads` are those callers, to join once they are done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition()
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> None:
        with self._arrived:
            self.threads.append(threading.current_thread())
            self._arrived.notify_all()
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait_for(self, n: int, timeout: float = 10) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.threads) >= n, timeout)


def test_backends_without_async_run_in_a_worker_thread_and_leave_the_loop_free() -> None:
    llm = BlockingScripted(["hello"])

    async def main() -> str:
        async def meanwhile() -> None:
            await asyncio.sleep(0)  # runs only if agenerate left the loop free
            llm.loop_ran.set()

        gen, _ = await asyncio.gather(llm.agenerate("q"), meanwhile())
        return gen.text

    assert asyncio.run(main()) == "hello"
    assert llm.threads == ["qwen-agent-llm"]


def test_queued_blocking_calls_whose_awaiter_left_never_start() -> None:
    llm = BlockingScripted(["first", "second", "third"])
    lock = llm.__dict__["_blocking"] = WatchedLock()  # the lock `_blocking_lock()` hands out

    async def main() -> str:
        first = asyncio.create_task(llm.agenerate("q"))
        queued = [asyncio.create_task(llm.agenerate("q")) for _ in range(2)]
        # all three threads reached the lock: the first holds it (waiting for `loop_ran`), two wait behind it
        assert await asyncio.to_thread(lock.wait_for, 3)
        for task in queued:
            task.cancel()
        llm.loop_ran.set()
        return (await first).text

    assert asyncio.run(main()) == "first"
    for thread in lock.threads:  # each queued thread took the lock in turn, saw its awaiter gone, and ended
        thread.join(10)
    assert not any(thread.is_alive() for thread in lock.threads)
    assert llm.threads == ["qwen-agent-llm"]  # only the first call generated


def test_thread_default_stream_stops_the_backend_when_the_consumer_leaves() -> None:
    llm = BlockingScripted(["abcdefghijklmnopqrstuvwxyz" * 4])  # 35 chunks of 3 characters
    llm.loop_ran.set()
    produced: list[int] = []
    original = llm._stream

    def counting(*args: Any) -> Any:
        for n, chunk in enumerate(original(*args)):
            produced.append(n)
            yield chunk

    llm._stream = counting  # type: ignore[method-assign]
    lock = llm.__dict__["_blocking"] = WatchedLock()  # the producing thread holds it: it names that thread

    async def first_two() -> list[str]:
        stream = llm.astream("q")
        out = [(await stream.__anext__()).text, (await stream.__anext__()).text]
        await stream.aclose()
        return out

    assert asyncio.run(first_two()) == ["abc", "def"]
    (producer,) = lock.threads
    producer.join(10)  # it ends only by stopping: had it not, it would wait for the consumer forever
    assert not producer.is_alive()
    assert len(produced) <= 2 + 16 + 1  # what was taken, the window ahead, the one it stopped at


# --- the agent --------------------------------------------------------------------------------------------
def test_arun_result_matches_run_result() -> None:
    script = [call("add", '{"a": 2, "b": 3}'), "5."]
    sync = agent(script, [add]).run_result("2+3?")
    result = asyncio.run(agent(script, [add]).arun_result("2+3?"))
    assert result.answer == sync.answer == "5."
    assert [(s.kind, s.observation) for s in result.steps] == [
        ("turn", None), ("observation", "5"), ("turn", None), ("final", None)]
    assert (result.end, result.usage) == (sync.end, sync.usage) == ("answer", sync.usage)
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant"]


def test_astream_yields_steps_and_streams_text() -> None:
    shown: list[str] = []

    async def main() -> list[str]:
        a = agent([call("add", '{"a": 1, "b": 1}'), "It is 2."], [add])
        return [s.kind async for s in a.astream("1+1?", on_text=shown.append)]

    assert asyncio.run(main()) == ["turn", "observation", "turn", "final"]
    assert "".join(shown) == "It is 2."


def test_leaving_astream_at_the_first_action_runs_no_tool() -> None:
    ran: list[int] = []

    @tool
    def record(n: int) -> int:
        """Record n."""
        ran.append(n)
        return n

    async def main() -> list[str]:
        a = agent([call("record", '{"n": 1}'), "done"], [record])
        kinds = []
        async with aclosing(a.astream("go")) as steps:
            async for step in steps:
                kinds.append(step.kind)
                if step.kind == "turn":
                    break
        return kinds

    assert asyncio.run(main()) == ["turn"]
    assert ran == []


def test_sync_run_works_inside_a_running_event_loop() -> None:
    @tool
    async def double(x: int) -> int:
        """Double a number (an async tool)."""
        await asyncio.sleep(0)
        return 2 * x

    async def notebook_cell() -> tuple[str, str]:
        a = agent([turn(call("double", '{"x": 21}'), call("add", '{"a": 1, "b": 2}')), "42 and 3."], [double, add])
        result = a.run_result("go")  # a blocking call from inside a running loop, as in a Jupyter cell
        return result.answer, ",".join(s.observation or "" for s in result.steps if s.kind == "observation")

    assert asyncio.run(notebook_cell()) == ("42 and 3.", "42,3")
    assert double.call('{"x": 4}') == "8"  # and outside any loop


def test_async_tools_are_awaited_on_the_loop_and_sync_tools_run_in_threads() -> None:
    seen: dict[str, str] = {}

    @tool
    async def where_async() -> str:
        """Report the thread."""
        seen["async"] = threading.current_thread().name
        return "a"

    @tool
    def where_sync() -> str:
        """Report the thread."""
        seen["sync"] = threading.current_thread().name
        return "s"

    a = agent([turn(call("where_async", "{}"), call("where_sync", "{}")), "ok"], [where_async, where_sync])
    asyncio.run(a.arun("where?"))
    assert seen == {"async": "MainThread", "sync": "qwen-agent-tool-where_sync"}


# --- concurrent tool calls -----------------------------------------------------------------------------------
class Gate(Tool):
    """Waits at a barrier shared by `parties` calls: it passes only if that many calls run at the same time."""

    name = "gate"
    description = "wait for the others"
    parameters = {"type": "object", "properties": {"tag": {"type": "string"}}, "required": ["tag"]}

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)

    def run(self, tag: str) -> str:
        self.barrier.wait()
        return tag


def test_calls_of_a_turn_run_at_the_same_time() -> None:
    calls = turn(*(call("gate", f'{{"tag": "g{i}"}}') for i in range(3)))
    result = agent([calls, "done"], [Gate(3)]).run_result("go")
    assert [s.observation for s in result.steps if s.kind == "observation"] == ["g0", "g1", "g2"]


def test_parallel_tools_false_runs_them_one_after_another() -> None:
    calls = turn(*(call("gate", f'{{"tag": "g{i}"}}') for i in range(2)))
    gate = Gate(2)
    gate.barrier = threading.Barrier(2, timeout=0.3)  # alone at the barrier: it breaks
    result = agent([calls, "done"], [gate], parallel_tools=False).run_result("go")
    observations = [s.observation or "" for s in result.steps if s.kind == "observation"]
    assert all("BrokenBarrierError" in o for o in observations), observations


class Tracker(Tool):
    """Records how many of its calls run at once. With `meet=n`, each call waits (up to 10 s) until n calls are
    running together, so the overlap a test expects happens however loaded the machine is."""

    name = "track"
    description = "track"
    parameters = {"type": "object", "properties": {"i": {"type": "integer"}}, "required": ["i"]}

    def __init__(self, meet: int = 1) -> None:
        self.lock = threading.Condition()
        self.meet = meet
        self.now = 0
        self.peak = 0

    def run(self, i: int) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.peak >= self.meet, 10)
        with self.lock:
            self.now -= 1
        return str(i)


def test_the_pool_is_bounded() -> None:
    tracker = Tracker(meet=2)  # the first two calls wait for each other: two at once must be possible
    calls = turn(*(call("track", f'{{"i": {i}}}') for i in range(6)))
    result = agent([calls, "done"], [tracker], max_parallel_tools=2).run_result("go")
    assert [s.observation for s in result.steps if s.kind == "observation"] == ["0", "1", "2", "3", "4", "5"]
    assert tracker.peak == 2


def test_tools_marked_not_concurrent_take_turns_on_one_thread_of_their_own() -> None:
    tracker = Tracker()
    tracker.concurrent = False
    threads: set[str] = set()
    original = tracker.run
    tracker.run = lambda i: threads.add(threading.current_thread().name) or original(i)  # type: ignore[method-assign]
    calls = turn(*(call("track", f'{{"i": {i}}}') for i in range(3)))
    a = agent([calls, "done", call("track", '{"i": 3}'), "done"], [tracker])
    a.run_result("go")
    asyncio.run(a.arun_result("again"))  # another run on another loop: still the same thread
    assert tracker.peak == 1
    assert len(threads) == 1


class Sleeper(Tool):
    """Sleeps until interrupted (or 10 s); records that it was asked to stop."""

    name = "sleeper"
    description = "sleep"
    parameters = {"type": "object", "properties": {}}

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.started = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self) -> str:
        self.thread = threading.current_thread()
        self.started.set()
        self.stop.wait(10)
        return "woke"

    def interrupt(self) -> bool:
        self.stop.set()
        return True


def test_a_call_past_its_deadline_fails_alone_and_the_others_finish() -> None:
    @tool
    def slow_but_fine(x: int) -> int:
        """Takes a little while."""
        time.sleep(0.3)
        return x

    sleeper = Sleeper()
    calls = turn(call("sleeper", "{}"), call("slow_but_fine", '{"x": 7}'), call("add", '{"a": 1, "b": 1}'))
    start = time.monotonic()
    result = agent([calls, "done"], [sleeper, slow_but_fine, add], tool_timeout=1.0).run_result("go")
    elapsed = time.monotonic() - start
    observations = [(s.observation, s.is_error) for s in result.steps if s.kind == "observation"]
    assert observations[1:] == [("7", False), ("2", False)]
    assert observations[0][1] and "sleeper did not finish within 1 s" in observations[0][0]
    assert 1.0 <= elapsed < 5  # the deadline, not the sleeper's 10 s
    assert sleeper.stop.is_set()  # asked to stop...
    assert sleeper.thread is not None
    sleeper.thread.join(2)
    assert not sleeper.thread.is_alive()  # ...and its thread ended


def waiting_tool(name: str) -> tuple[Any, threading.Event]:
    """An async tool that waits 30 s, and the event it sets when it is cancelled."""
    cancelled = threading.Event()

    async def wait() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    wait.__name__ = wait.__qualname__ = name
    wait.__doc__ = "Waits a long time."
    return tool(wait), cancelled


def test_an_async_tool_past_its_deadline_is_cancelled_and_its_sibling_finishes() -> None:
    hangs, cancelled = waiting_tool("hangs")
    calls = turn(call("hangs", "{}"), call("add", '{"a": 2, "b": 2}'))
    start = time.monotonic()
    result = asyncio.run(agent([calls, "done"], [hangs, add], tool_timeout=0.5).arun_result("go"))
    observations = [(s.observation, s.is_error) for s in result.steps if s.kind == "observation"]
    assert time.monotonic() - start < 5
    assert observations[1] == ("4", False)
    assert observations[0][1] and "hangs did not finish within 0.5 s" in observations[0][0]
    assert cancelled.is_set()
    assert result.answer == "done"


def test_a_raising_tool_among_good_ones_is_an_error_for_that_call_only() -> None:
    @tool
    def boom() -> str:
        """Always fails."""
        raise ValueError("kaboom")

    calls = turn(call("add", '{"a": 1, "b": 2}'), call("boom", "{}"), call("nope", "{}"), call("add", '{"a": "x"}'),
                 call("add", '{"a": 3, "b": 4}'))
    result = asyncio.run(agent([calls, "done"], [add, boom]).arun_result("go"))
    observations = [(s.observation, s.is_error) for s in result.steps if s.kind == "observation"]
    assert observations[0] == ("3", False) and observations[4] == ("7", False)
    assert observations[1] == ("Error: boom raised ValueError: kaboom", True)
    assert observations[2][1] and "Unknown tool 'nope'" in observations[2][0]
    assert observations[3][1] and "Invalid arguments for add" in observations[3][0]
    assert [m.tool_call_id for m in result.messages if m.role == "tool"] == [
        c.id for c in result.steps[0].message.tool_calls]  # fed back in call order


def test_results_are_fed_back_in_call_order_even_when_the_first_finishes_last() -> None:
    second_done = threading.Event()

    @tool
    def first() -> str:
        """Finishes after `second`."""
        assert second_done.wait(5)
        return "first-result"

    @tool
    def second() -> str:
        """Finishes first."""
        second_done.set()
        return "second-result"

    llm = ScriptedLLM([turn(call("first", "{}"), call("second", "{}")), "done"])
    result = Agent(llm=llm, tools=[first, second], tool_format="hermes").run_result("go")
    assert [m.content for m in result.messages if m.role == "tool"] == ["first-result", "second-result"]
    sent = llm.calls[1][0]  # what the model read next: the Hermes prompt text, or messages
    text = sent if isinstance(sent, str) else "\n".join(m.content or "" for m in sent)
    assert 0 <= text.index("first-result") < text.index("second-result")


def test_bad_tool_settings_are_clear_errors() -> None:
    with pytest.raises(ConfigurationError, match="max_parallel_tools must be at least 1"):
        agent(["x"], [add], max_parallel_tools=0)
    with pytest.raises(ConfigurationError, match="tool_timeout must be positive"):
        agent(["x"], [add], tool_timeout=0)


# --- cancellation ----------------------------------------------------------------------------------------------
def test_cancelling_arun_stops_async_tools_and_interrupts_tool_threads() -> None:
    sleeper = Sleeper()
    waits, cancelled = waiting_tool("waits")

    async def main() -> None:
        a = agent([turn(call("sleeper", "{}"), call("waits", "{}")), "done"], [sleeper, waits])
        task = asyncio.create_task(a.arun("go"))
        while not sleeper.started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    start = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - start < 5
    assert cancelled.is_set()
    assert sleeper.stop.is_set()
    assert sleeper.thread is not None
    sleeper.thread.join(2)
    assert not sleeper.thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name in ("qwen-agent-tool-sleeper", "qwen-agent-tool-waits")]


def test_many_agents_share_one_loop_with_the_scripted_model() -> None:
    async def one(i: int) -> str:
        return await agent([call("add", f'{{"a": {i}, "b": {i}}}'), f"{i}+{i} done"], [add]).arun("?")

    async def main() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(300)))

    assert asyncio.run(main()) == [f"{i}+{i} done" for i in range(300)]


def test_an_agent_can_be_a_tool_of_another_sync_or_async() -> None:
    """Nested runs share the process's background loop (sync) or call into it from its own thread (async tool
    calling a sync run): neither may deadlock."""

    @tool
    def ask_helper(question: str) -> str:
        """Ask a helper agent (sync)."""
        return agent([call("add", '{"a": 20, "b": 22}'), "helper says 42"], [add]).run(question)

    @tool
    async def ask_helper_async(question: str) -> str:
        """Ask a helper agent from async code, through its sync API."""
        return agent([call("add", '{"a": 1, "b": 1}'), "helper says 2"], [add]).run(question)

    outer = agent([turn(call("ask_helper", '{"question": "q"}'), call("ask_helper_async", '{"question": "q"}')),
                   "done"], [ask_helper, ask_helper_async])
    result = outer.run_result("go")
    assert [s.observation for s in result.steps if s.kind == "observation"] == ["helper says 42", "helper says 2"]


@pytest.mark.kernel
def test_code_past_the_tool_deadline_is_interrupted_and_the_kernel_keeps_its_state() -> None:
    pytest.importorskip("jupyter_client")
    from qwen_agent.tools.code_interpreter import CodeInterpreter

    sleepy = call("code_interpreter", '{"code": "import time\\nx = 41\\ntime.sleep(60)"}')
    later = call("code_interpreter", '{"code": "print(x + 1)"}')
    interpreter = CodeInterpreter(timeout=120)
    interpreter.session.start()  # the kernel's start is not what the 3 s deadline is about
    with agent([sleepy, later, "done"], [interpreter], tool_timeout=3) as a:
        start = time.monotonic()
        result = a.run_result("go")
        elapsed = time.monotonic() - start
    observations = [(s.observation or "", s.is_error) for s in result.steps if s.kind == "observation"]
    assert observations[0][1] and "code_interpreter did not finish within 3 s" in observations[0][0]
    assert observations[1] == ("42", False)  # interrupted, not restarted: x survived
    assert elapsed < 40  # not the 60 s the code asked for
