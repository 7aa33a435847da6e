"""KernelSession: run code in a confined Jupyter kernel with caller-side deadlines."""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from qwen_agent.errors import ConfigurationError, SandboxError
from qwen_agent.interpreter import sandbox
from qwen_agent.interpreter.config import SandboxConfig
from qwen_agent.interpreter.kernel import Kernel
from qwen_agent.interpreter.quota import INTERVAL, SETTLE, DiskQuota, DiskUsage
from qwen_agent.interpreter.result import ErrorInfo, ExecutionResult

_POLL = 0.1  # seconds between liveness checks while waiting for output


class _Collector:
    """Accumulates the iopub messages of one execution into an ExecutionResult."""

    def __init__(self, session: KernelSession, limit: int) -> None:
        self.session = session
        self.limit = limit
        self.kept = 0
        self.result = ExecutionResult(status="ok", work_dir=session.work_dir)

    @property
    def flooded(self) -> bool:
        """Whether output went far past the limit (the execution should be interrupted)."""
        return self.result.truncated_bytes > 3 * self.limit

    def add(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            self._stream(content["name"], content["text"])
        elif kind in ("execute_result", "display_data"):
            self._data(content.get("data", {}), is_result=kind == "execute_result")
        elif kind == "error":
            self.result.error = ErrorInfo(content["ename"], content["evalue"], list(content["traceback"]))
            self.result.events.append(("error", self.result.error.text))

    def _stream(self, name: str, text: str) -> None:
        room = self.limit - self.kept
        if len(text) > room:
            self.result.truncated_bytes += len(text) - max(room, 0)
            text = text[: max(room, 0)]
        if not text:
            return
        self.kept += len(text)
        self.result.events.append((name, text))
        streams = self.result.streams
        if streams and streams[-1][0] == name:
            streams[-1] = (name, streams[-1][1] + text)
        else:
            streams.append((name, text))

    def _data(self, data: dict[str, Any], is_result: bool) -> None:
        if data.get("text/plain") and (is_result or "image/png" not in data):  # a result shows both
            self.result.events.append(("execute_result" if is_result else "display_data", data["text/plain"]))
        if "image/png" in data:
            self.result.images.append(self.session._save_png(data["image/png"]))
            self.result.events.append(("image", str(self.result.images[-1])))
            return
        text = data.get("text/markdown") or data.get("text/plain")
        if text is None:
            return
        if is_result:
            self.result.result = text
        else:
            self.result.displays.append(text)


class KernelSession:
    """A stateful Python session in a sandboxed Jupyter kernel.

    State persists between `execute` calls; sessions never share a kernel or a work dir. The kernel starts on
    `start()`, `__enter__` or the first `execute`. Use as a context manager or call `close()`.

    Args:
        work_dir: the kernel's working directory; None makes a fresh temporary one (removed on close).
        sandbox: limits and isolation level.
        font_family: CJK font family for matplotlib (default: the first one found on the host).

    Attributes:
        work_dir: the kernel's working directory (absolute); uploads and figures go here.
        level: the sandbox level in force ("bwrap", "namespaces", "rlimits" or "none").
        config: the SandboxConfig in use.
    """

    def __init__(self, work_dir: str | Path | None = None, sandbox: SandboxConfig | None = None,
                 font_family: str | None = None) -> None:
        self.config = sandbox or SandboxConfig()
        python = self.config.python
        if python is not None and not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise ConfigurationError(f"SandboxConfig.python {python!r} is not an executable file")
        self.level = _resolve(self.config)
        self._own_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="qwen-agent-")) if work_dir is None else Path(work_dir)
        if not self.work_dir.is_dir():
            raise SandboxError(f"work_dir {str(self.work_dir)!r} is not an existing directory")
        self.work_dir = self.work_dir.resolve()
        self._font = font_family
        self._kernel: Kernel | None = None
        self._starting: Kernel | None = None  # a kernel between launch and its first answer (see `close`)
        self._pending: threading.Thread | None = None
        self._pending_error: BaseException | None = None
        self._lock = threading.RLock()
        self._figures = 0
        self._closed = False
        self._executing = False  # between sending code and its idle reply: what interrupt() may cut
        self.quota = DiskQuota(self.config.max_disk_mb * 1_048_576, self.config.max_files)

    # --- life -----------------------------------------------------------------------------------------------
    def start(self) -> KernelSession:
        """Start the kernel now (blocking until it answers). Idempotent."""
        with self._lock:
            self._check_open()
            self._await_pending()
            if self._kernel is None or not self._kernel.alive():
                self._replace_kernel()
        return self

    def restart(self) -> None:
        """Kill the kernel and everything it started, and start a fresh one (variables are lost)."""
        with self._lock:
            self._check_open()
            self._await_pending()
            self._replace_kernel()

    def close(self) -> None:
        """Kill the kernel and its processes; remove the work dir if the session made it. Idempotent.

        Safe from another thread while `execute` runs: the kernel is killed at once and that call returns
        a "died" result. While `start` runs, the starting kernel is killed at once and `start` raises
        SandboxError.
        """
        if self._closed:
            return
        self._closed = True
        for kernel in (self._kernel, self._starting):
            if kernel is not None:
                kernel.kill_process()  # at once: a running execute sees the death and returns, a start fails
        with self._lock:
            if self._pending is not None:
                self._pending.join()
                self._pending = None
            if self._kernel is not None:
                self._kernel.kill()
                self._kernel = None
            if self._own_dir:
                shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> KernelSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and getattr(self, "_kernel", None) is not None:
            with contextlib.suppress(Exception):  # interpreter shutdown: modules may be half torn down
                self.close()

    @property
    def sandbox_description(self) -> str:
        """The sandbox level in force and what it enforces here, in words."""
        return sandbox.describe(self.level)

    # --- execution ------------------------------------------------------------------------------------------
    def execute(self, code: str, timeout: float = 30.0) -> ExecutionResult:
        """Run `code`; return within `timeout` (+ about a second of interrupt grace) whatever it does.

        Returns:
            An ExecutionResult. On timeout the kernel is interrupted; if it does not return to idle within
            `SandboxConfig.interrupt_grace` it is killed and replaced (`state_lost=True`). A kernel that died
            (during this call or since the last one) is replaced too.
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        with self._lock:
            started = time.monotonic()
            self._check_open()
            lost_note = self._ensure_kernel()
            result = self._run(code, timeout)
            if result.status == "died" and not result.started and not self._closed:  # died before the call
                self._await_pending()
                lost_note = "The kernel had died since the last call; this code ran in a fresh kernel."
                result = self._run(code, timeout)
            if lost_note and not result.state_lost:
                result.state_lost = True
                result.message = " ".join(m for m in (lost_note, result.message) if m)
            result.elapsed = time.monotonic() - started
            return result

    def interrupt(self) -> bool:
        """Interrupt the code running now, as Ctrl-C in a notebook (safe from another thread; variables are
        kept): the running `execute` returns with a KeyboardInterrupt error. Returns whether code was running
        to interrupt; with none, nothing is sent (a late interrupt could cut the next code short)."""
        kernel = self._kernel
        if kernel is None or self._closed or not self._executing:
            return False
        try:
            kernel.interrupt()
        except Exception:  # noqa: BLE001 - a kernel going away is not the caller's problem
            return False
        return True

    def _run(self, code: str, timeout: float) -> ExecutionResult:
        kernel = self._kernel
        assert kernel is not None  # _ensure_kernel guarantees it
        kernel.drain()
        deadline = time.monotonic() + timeout
        watch = _QuotaWatch(self.quota, self.disk_roots(kernel))
        msg_id = kernel.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        collector = _Collector(self, self.config.max_output_bytes)
        self._executing = True
        try:
            outcome = self._wait_idle(kernel, msg_id, deadline, collector, watch=watch)
        finally:
            self._executing = False
        result = collector.result
        if outcome == "idle":
            result.status = "error" if result.error is not None else "ok"
            watch.report(result, stopped=False)
            return result
        if outcome == "died":
            return self._died(result, kernel)
        why = {"deadline": f"Execution exceeded the {timeout:g} s timeout", "flood": "Output exceeded the output limit",
               "quota": "Files exceeded the session's disk quota"}[outcome]
        with contextlib.suppress(Exception):  # a broken control channel just means no interrupt: restart
            kernel.interrupt()
        grace_end = time.monotonic() + self.config.interrupt_grace
        watch.rebase()  # while interrupting, any further growth replaces the kernel at once
        after = self._wait_idle(kernel, msg_id, grace_end, collector, interrupting=True, watch=watch)
        result.status, result.error = ("timeout" if outcome == "deadline" else "error"), None
        if after == "idle":
            result.message = f"{why} and was interrupted; variables are kept."
            if outcome == "flood":
                result.error = ErrorInfo("OutputLimitExceeded", result.message, [])
            watch.report(result, stopped=True)
            return result
        self._restart_in_background(kernel)
        result.state_lost = True
        result.message = (f"{why}; the interrupt did not stop it, so the kernel was restarted: "
                          "variables and imports are lost (files in the work dir are kept).")
        if outcome == "flood":
            result.error = ErrorInfo("OutputLimitExceeded", result.message, [])
        watch.report(result, stopped=True)
        return result

    def disk_roots(self, kernel: Kernel | None = None) -> list[Path]:
        """Where the session's files count against its disk quota: the work dir and the private /tmp."""
        kernel = kernel or self._kernel
        return [self.work_dir] + ([kernel.runtime / "tmp"] if kernel is not None else [])

    def disk_usage(self) -> DiskUsage:
        """What the session's files take now (see `SandboxConfig.max_disk_mb` and `max_files`)."""
        return self.quota.measure(self.disk_roots())

    def _wait_idle(self, kernel: Kernel, msg_id: str, deadline: float, collector: _Collector,
                   interrupting: bool = False, watch: _QuotaWatch | None = None) -> str:
        """Read iopub replies to `msg_id` until idle; returns "idle", "deadline", "died", "flood" or "quota"."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "deadline"
            if watch is not None and watch.due() and watch.breached():
                return "quota"
            try:
                msg = kernel.client.get_iopub_msg(timeout=min(_POLL, remaining))
            except queue.Empty:
                if not kernel.alive():
                    return "died"
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                return "idle"
            result = collector.result
            result.started = True
            collector.add(msg)
            if collector.flooded and not interrupting:
                return "flood"

    def _died(self, result: ExecutionResult, kernel: Kernel) -> ExecutionResult:
        code = kernel.proc.poll()
        self._restart_in_background(kernel)
        result.status = "died"
        result.state_lost = True
        result.message = (f"The kernel died (exit status {code}) while running this code. A fresh kernel "
                          "serves the next call: variables and imports are lost (files in the work dir are kept).")
        return result

    # --- kernel replacement ---------------------------------------------------------------------------------
    def _ensure_kernel(self) -> str:
        """Make sure a live kernel is there; return a note when an earlier kernel was lost since last call."""
        self._await_pending()
        if self._kernel is None:
            self._replace_kernel()
            return ""
        if not self._kernel.alive():
            code = self._kernel.proc.poll()
            self._replace_kernel()
            return (f"The kernel had died since the last call (exit status {code}); this code ran in a "
                    "fresh kernel: earlier variables and imports are lost.")
        return ""

    def _replace_kernel(self) -> None:
        if self._kernel is not None:
            self._kernel.kill()
            self._kernel = None
        kernel = Kernel(self.config, self.level, self.work_dir, self._font)
        self._starting = kernel
        try:
            if self._closed:  # closed while launching: `close` did not see this kernel yet
                kernel.kill_process()
            kernel.wait_ready(self.config.startup_timeout)
        except Exception as exc:
            if self._closed:
                raise SandboxError("this KernelSession was closed while its kernel was starting") from exc
            raise
        finally:
            self._starting = None
        self._kernel = kernel

    def _restart_in_background(self, old: Kernel) -> None:
        old.kill()
        self._kernel = None
        self._pending_error = None
        if self._closed:
            return

        def run() -> None:
            try:
                kernel = Kernel(self.config, self.level, self.work_dir, self._font)
                kernel.wait_ready(self.config.startup_timeout)
                if self._closed:  # closed while starting
                    kernel.kill()
                    return
                self._kernel = kernel
            except BaseException as exc:  # reported by the next call
                self._pending_error = exc

        self._pending = threading.Thread(target=run, name="qwen-agent-kernel-restart", daemon=True)
        self._pending.start()

    def _await_pending(self) -> None:
        if self._pending is not None:
            self._pending.join()
            self._pending = None
            error, self._pending_error = self._pending_error, None
            if error is not None:
                raise error

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this KernelSession is closed")

    # --- files ----------------------------------------------------------------------------------------------
    def upload(self, path: str | Path, name: str | None = None) -> str:
        """Copy a file (or directory) into the work dir; return its path relative to the work dir.

        Args:
            path: the host file or directory to copy.
            name: the relative name to give it (default: its base name). No absolute paths, no "..".
        """
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"cannot upload {str(source)!r}: no such file or directory")
        rel = Path(name if name is not None else source.name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"upload name must be a relative path inside the work dir, got {str(rel)!r}")
        target = self._inside(rel)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            if target.is_symlink():  # never write through a link the code in the kernel planted
                target.unlink()
            shutil.copyfile(source, target, follow_symlinks=True)
        return rel.as_posix()

    def _inside(self, rel: Path, replace_links: bool = False) -> Path:
        """`work_dir / rel` with its parents created; a symlinked parent (planted by code in the kernel to
        make the host write elsewhere) is refused, or removed when `replace_links`."""
        folder = self.work_dir
        for part in rel.parts[:-1]:
            folder = folder / part
            if folder.is_symlink():
                if not replace_links:
                    raise SandboxError(f"{rel.as_posix()!r} leads outside the work dir through a symlink")
                folder.unlink()
            folder.mkdir(exist_ok=True)
        return folder / rel.parts[-1]

    def _save_png(self, b64: str) -> Path:
        folder = self._inside(Path("figures") / "x", replace_links=True).parent
        while True:
            self._figures += 1
            path = folder / f"fig-{self._figures}.png"
            if not os.path.lexists(path):
                break
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(b64))
        return path


class _QuotaWatch:
    """Checks one execution against the disk quota: growth past it (from where it started) is a breach."""

    def __init__(self, quota: DiskQuota, roots: list[Path]) -> None:
        self.quota, self.roots = quota, roots
        self.start = self.last = quota.measure(roots)
        self._next = time.monotonic() + INTERVAL
        self._settling = False
        self.breach: DiskUsage | None = None  # the usage that stopped the execution

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def breached(self) -> bool:
        began = time.monotonic()
        self.last = self.quota.measure(self.roots)
        spent = time.monotonic() - began
        self._next = time.monotonic() + max(INTERVAL, 10 * spent)  # many files: scan less often
        if self._settling:  # the interrupt has had time to land: from here on, any growth is a breach
            self._settling, self.start = False, self.last
            return False
        if self.quota.exceeded(self.last) and self.last.grew_from(self.start):
            self.breach = self.breach or self.last
            return True
        return False

    def rebase(self) -> None:
        """After a breach, while interrupting: measure again once the interrupt had `SETTLE` s to land."""
        if self.quota.exceeded(self.last):
            self._settling = True
            self._next = time.monotonic() + SETTLE

    def report(self, result: ExecutionResult, stopped: bool) -> None:
        """Mark `result` when the quota stopped this execution, or when it ends over the quota."""
        self.last = self.quota.measure(self.roots)
        if self.breach is not None and stopped:  # a replaced kernel took its /tmp along: report the breach
            result.status = "error"
            result.error = ErrorInfo("DiskQuotaExceeded", self.quota.message(self.breach, stopped), [])
            return
        if not self.quota.exceeded(self.last):
            return
        note = self.quota.message(self.last, stopped)
        if (self.last.grew_from(self.start) or stopped) and result.error is None:
            result.status = "error"
            result.error = ErrorInfo("DiskQuotaExceeded", note, [])
        else:  # over already before: say so, but the code (perhaps deleting files) ran
            result.message = " ".join(m for m in (result.message, note) if m)


def _resolve(config: SandboxConfig) -> str:
    return sandbox.resolve_level(config)
