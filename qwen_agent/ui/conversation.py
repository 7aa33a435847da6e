"""One conversation of the web UI: its agent (own tools, own work dir), its history, its numbered events, and
the background run that produces them.

Runs of all conversations share the one model, so they take turns (`model_lock`). Events are kept for the
conversation's life: a reloaded page replays them, a reconnecting one resumes after the last it saw. Each event
but the streamed text is written to the conversation store as it happens (a step when it is complete), the
question when its run starts and the run's messages when it ends, so a restarted server replays it all.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qwen_agent.agent import Agent
from qwen_agent.conversations import ConversationInfo, ConversationStore, StoreError
from qwen_agent.errors import QwenAgentError
from qwen_agent.schema import AgentResult, Message, Step
from qwen_agent.tools.code_interpreter import CodeInterpreter
from qwen_agent.tools.registry import ToolRegistry
from qwen_agent.ui.events import FileInfo, changed_files, snapshot, step_event, stored_event

log = logging.getLogger(__name__)
MAX_FILES_SHOWN = 50  # per tool step; code that writes thousands of files should not flood the page
UNSTORED = {"delta", "status"}  # streamed text is replaced by the step; a wait note matters only live


class Busy(QwenAgentError):
    """The conversation is already running."""


class Conversation:
    """A conversation between the page and a copy of the app's agent.

    Args:
        cid: its id (the page keeps it across reloads).
        template: the app's agent; this conversation runs a shallow copy with its own code interpreter
            (own kernel, own work dir); runs stream through `on_text` and stop through the agent's cancel token.
        model_lock: held while a run uses the model.
        db: the store the conversation is written to (it must hold `cid` already).
        work_dir: the code interpreter's folder.
        events, history: what the store holds of it, when it is brought back.
    """

    def __init__(self, cid: str, template: Agent, model_lock: threading.Lock, db: ConversationStore,
                 work_dir: Path, *, events: list[dict[str, Any]] | None = None,
                 history: list[Message] | None = None) -> None:
        self.id = cid
        self.db = db
        self.work_dir = work_dir
        self.history: list[Message] = history or []
        self.events: list[dict[str, Any]] = events or []
        self.pending_uploads: list[str] = []
        self.last_used = time.monotonic()
        self._changed = threading.Condition()
        self._cancel = threading.Event()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._calls_running = 0  # calls of the last model turn whose observations have not come yet
        self._before: dict[str, tuple[int, int]] = {}
        self._model_lock = model_lock
        self.agent = self._own_agent(template)

    @classmethod
    def restore(cls, info: ConversationInfo, template: Agent, model_lock: threading.Lock,
                db: ConversationStore) -> Conversation:
        """The conversation as the store holds it (its kernel is a new one: variables of earlier runs are gone)."""
        events = [{**stored_event(r.kind, r.data), "seq": n} for n, r in enumerate(db.records(info.id))]
        work_dir = info.work_dir or Path()
        work_dir.mkdir(parents=True, exist_ok=True)
        return cls(info.id, template, model_lock, db, work_dir, events=events, history=db.load(info.id))

    def _own_agent(self, template: Agent) -> Agent:
        agent = copy.copy(template)
        agent.planner = copy.copy(template.planner)  # planners may cache per backend: none shared between runs
        agent.tools = ToolRegistry(self._own_tool(t) for t in template.tools.entries())
        return agent

    def _own_tool(self, tool: Any) -> Any:
        if isinstance(tool, CodeInterpreter):
            return CodeInterpreter(timeout=tool.timeout, max_output_chars=tool.max_output_chars,
                                   work_dir=self.work_dir)
        return tool  # stateless or shared by design (functions; MCP servers, started when first needed)

    @property
    def has_interpreter(self) -> bool:
        return any(isinstance(t, CodeInterpreter) for t in self.agent.tools.entries())

    @property
    def running(self) -> bool:
        return self._busy

    # --- events -------------------------------------------------------------------------------------------
    def emit(self, event: dict[str, Any], stored: dict[str, Any] | None = None) -> None:
        """Send `event` to the page and write it to the store (`stored` in its place, when given)."""
        if event["type"] not in UNSTORED:
            data = stored if stored is not None else {k: v for k, v in event.items() if k != "type"}
            self._store(self.db.add_record, self.id, event["type"], data)
        with self._changed:
            event["seq"] = len(self.events)
            self.events.append(event)
            self._changed.notify_all()

    def _store(self, write: Callable[..., Any], *args: Any) -> None:
        """`write(*args)` to the store; a failure (disk full, file locked too long) is logged, the run goes on."""
        try:
            write(*args)
        except StoreError:
            log.exception("conversation %s: could not write to the conversation store", self.id)

    def follow(self, after: int, poll: float = 1.0) -> Iterator[dict[str, Any] | None]:
        """Events from number `after` on; while a run goes on, waits for more (yielding None every `poll`
        seconds so the caller can check its client); ends when no run is going and all were given."""
        seq = after
        while True:
            with self._changed:
                if seq >= len(self.events) and self.running:
                    self._changed.wait(poll)
                batch = self.events[seq:]
                idle = not self.running
            yield from batch
            seq += len(batch)
            if not batch:
                if idle:
                    return
                yield None

    def _on_text(self, text: str) -> None:
        self.emit({"type": "delta", "text": text})

    # --- runs ---------------------------------------------------------------------------------------------
    def start(self, text: str) -> int:
        """Start answering `text` on a background thread; returns the number of its first event."""
        with self._changed:
            if self.running:
                raise Busy("this conversation is still answering; stop it or wait")
            files, self.pending_uploads = self.pending_uploads, []
            first = len(self.events)
            self.emit({"type": "user", "text": text, "files": files})
            self._store(self.db.append, self.id, [Message.user(_with_files(text, files))])
            self._store(self.db.set_status, self.id, "running")
            self._cancel.clear()
            self._busy = True
            self.last_used = time.monotonic()
            self._thread = threading.Thread(target=self._run, args=(_with_files(text, files),),
                                            name=f"qwen-agent-ui-{self.id[:8]}", daemon=True)
            self._thread.start()
        return first

    def stop(self) -> bool:
        """Ask the running answer to stop; returns whether one was running."""
        running = self.running
        if running:
            self._cancel.set()
            if self._calls_running:  # code that runs long would otherwise hold the stop until its timeout
                threading.Thread(target=self._interrupt_tool, daemon=True).start()
        return running

    def _interrupt_tool(self) -> None:
        """Interrupt the interpreter until the tool call returns (an interrupt sent just before the kernel
        starts the code is ignored, so one is not enough)."""
        interpreters = [t for t in self.agent.tools.entries() if isinstance(t, CodeInterpreter)]
        deadline = time.monotonic() + max((t.timeout for t in interpreters), default=0)
        while self._calls_running and self._busy and time.monotonic() < deadline:
            for t in interpreters:
                t.interrupt()
            time.sleep(0.5)

    def _run(self, text: str) -> None:
        status = "error"
        try:
            if not self._model_lock.acquire(blocking=False):
                self.emit({"type": "status", "text": "waiting: another conversation is using the model"})
                self._model_lock.acquire()
            try:
                result = self._answer(text)
            finally:
                self._model_lock.release()
            self.history = result.messages
            status = {"answer": "final", "answer_turn": "final", "cancelled": "cancelled"}.get(result.end, "stopped")
        except Exception as e:  # noqa: BLE001 - the page must hear of any failure, then the user may go on
            log.exception("conversation %s: the run failed", self.id)
            self.emit({"type": "error", "message": _describe(e)})
        if status != "error":
            self._store(self.db.save, self.id, self.history)  # the run's messages, as the agent gave them
        else:  # the question goes back into the page's box to be sent again
            self._store(self.db.truncate, self.id, sum(m.role != "system" for m in self.history))
        self._store(self.db.set_status, self.id, "idle")
        with self._changed:
            self._busy = False
            self._calls_running = 0
            self.emit({"type": "done", "status": status})

    def _answer(self, text: str) -> AgentResult:
        self._before = snapshot(self.work_dir)
        return self.agent.run_result(text, history=self.history, on_raw=self._on_text, on_step=self._on_step,
                                     cancel=self._cancel)

    def _on_step(self, step: Step) -> None:
        if step.kind == "turn" and step.message is not None:
            self._calls_running = len(step.message.tool_calls or [])
        self.emit(step_event(step), stored=step.model_dump(mode="json"))  # the step as the agent gave it
        if step.kind == "observation":
            self._calls_running = max(0, self._calls_running - 1)
            self._emit_files(changed_files(self.work_dir, self._before))
            self._before = snapshot(self.work_dir)
            self._store(self.db.set_files, self.id, {n: size for n, (size, _) in self._before.items()})

    def _emit_files(self, files: list[FileInfo]) -> None:
        if files:
            shown = [f.to_json(self.id) for f in files[:MAX_FILES_SHOWN]]
            self.emit({"type": "files", "files": shown, "more": len(files) - len(shown)})

    # --- files --------------------------------------------------------------------------------------------
    def add_upload(self, info: FileInfo) -> None:
        self.pending_uploads.append(info.name)
        self.emit({"type": "upload", "file": info.to_json(self.id)})

    def close(self, timeout: float = 10.0) -> None:
        """Stop a running answer (waiting up to `timeout` s, so no generation outlives the app), close the
        kernel. The work dir and the stored conversation stay."""
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        for t in self.agent.tools.entries():
            if isinstance(t, CodeInterpreter):
                t.close()


def _with_files(text: str, files: list[str]) -> str:
    if not files:
        return text
    return f"{text}\n\n(Files uploaded to the working directory: {', '.join(files)})"


def _describe(e: BaseException) -> str:
    if isinstance(e, QwenAgentError):
        return f"The model or a tool failed: {e}"
    return f"Internal error: {type(e).__name__}: {e}"
