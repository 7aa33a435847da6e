"""The decode loop of a backend that batches continuously (`TransformersLLM.open_batch()`): on the model's one
worker thread, requests join a `DecodeBatch` between decode steps as they arrive, and leave it when they end
or their client goes away; the others go on.

Each request's chunks go to its own `Channel` (the event loop reads them). A request that fails to join (its
prompt does not fit, its template raises) gets its error and the batch goes on; a decode step that raises
fails the requests in the batch at that moment, and the loop goes on with the ones still waiting.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qwen_agent.llm.base import Prompt
from qwen_agent.schema import GenerationConfig

END = object()  #: the last item of every request's channel


class Failure:
    """What a channel carries when its request failed."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


@dataclass(eq=False)
class BatchRequest:
    """One request waiting for, or decoding in, the batch. `channel` is a `worker._Channel`."""

    prompt: Prompt
    stop: Sequence[str]
    config: GenerationConfig
    channel: Any


class BatchLoop:
    """Admits waiting requests into `batch` (at most `max_batch` rows) and steps it until none are left.

    `add(request)` queues a request (any thread); `run()` is called on the worker thread after each `add` and
    returns once the batch is empty and nothing waits (a `run()` that finds the work done returns at once).
    """

    def __init__(self, batch: Any, max_batch: int) -> None:
        self.batch = batch
        self.max_batch = max_batch
        self.step_sizes: list[int] = []  #: rows of every decode step, for monitoring
        self._waiting: deque[BatchRequest] = deque()
        self._owners: dict[Any, BatchRequest] = {}  # row -> its request
        self._lock = threading.Lock()

    def add(self, request: BatchRequest) -> None:
        with self._lock:
            self._waiting.append(request)

    @property
    def waiting(self) -> int:
        """Requests queued, not yet admitted to the batch."""
        return len(self._waiting)

    @property
    def active(self) -> int:
        """Requests decoding now."""
        return len(self._owners)

    def run(self) -> None:
        while True:
            self._admit()
            self._drop_cancelled()
            if not self._owners:
                with self._lock:
                    if not self._waiting:
                        return
                continue
            self.step_sizes.append(len(self._owners))
            try:
                self.batch.step()
            except Exception as e:  # noqa: BLE001 - every request in the batch reports it
                for row in list(self._owners):
                    self._fail(row, e)
                continue
            for row in list(self._owners):
                self._deliver(row)

    def _admit(self) -> None:
        while len(self._owners) < self.max_batch:
            with self._lock:
                if not self._waiting:
                    return
                request = self._waiting.popleft()
            if request.channel.cancelled.is_set():  # its client left while it waited
                request.channel.send(END)
                continue
            try:
                row = self.batch.join(request.prompt, request.stop, request.config)
            except Exception as e:  # noqa: BLE001 - this request's error; the batch goes on
                request.channel.send(Failure(e))
                request.channel.send(END)
                continue
            self._owners[row] = request
            self._deliver(row)

    def _deliver(self, row: Any) -> None:
        channel = self._owners[row].channel
        for chunk in row.drain():
            if not channel.send(chunk, needs_slot=True):
                break
        if row.finish is not None or channel.cancelled.is_set():
            self._release(row)

    def _drop_cancelled(self) -> None:
        for row, request in list(self._owners.items()):
            if request.channel.cancelled.is_set():
                self._release(row)

    def _release(self, row: Any) -> None:
        self.batch.leave(row)  # a no-op for a row that ended
        self._owners.pop(row).channel.send(END)

    def _fail(self, row: Any, error: BaseException) -> None:
        channel = self._owners.pop(row).channel
        channel.send(Failure(error))
        channel.send(END)
