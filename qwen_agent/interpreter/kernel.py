"""One confined ipykernel process and the client that talks to it over ipc sockets."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from qwen_agent.errors import KernelStartError, MissingDependencyError
from qwen_agent.interpreter import sandbox
from qwen_agent.interpreter.config import SandboxConfig
from qwen_agent.interpreter.fonts import write_matplotlibrc

# An IPython startup file of each kernel. ipykernel buffers stdout and stderr separately and flushes them
# on a timer, which loses their relative order; flushing the other stream when the writer switches keeps it.
# It patches the class, at startup rather than in a cell: IPython swaps the instance's `write` around cells.
_STARTUP_CODE = """
def _qwen_agent_order_streams():
    import sys
    last = [None]
    def order(stream, other):
        base = type(stream)
        class OrderedStream(base):
            def write(self, text):
                if last[0] is other:
                    other.flush()
                last[0] = self
                return base.write(self, text)
        stream.__class__ = OrderedStream
    order(sys.stdout, sys.stderr)
    order(sys.stderr, sys.stdout)
_qwen_agent_order_streams()
del _qwen_agent_order_streams
"""

_RUNTIME_PREFIX = "qak-"  # short: ipc socket paths must stay under ~100 characters


def _jupyter_client() -> Any:
    try:
        import jupyter_client
    except ImportError as exc:
        raise MissingDependencyError("jupyter_client", "interpreter", "The code interpreter") from exc
    return jupyter_client


class Kernel:
    """A started kernel: its process, runtime dir (connection file, sockets, private /tmp) and client.

    Args:
        config: limits and options.
        level: the sandbox level in force (see `sandbox.resolve_level`).
        work_dir: the kernel's working directory (must exist).
        font_family: the CJK font for matplotlib (default: found by `fonts.find_cjk_font`).
    """

    def __init__(self, config: SandboxConfig, level: str, work_dir: Path, font_family: str | None = None) -> None:
        jc = _jupyter_client()
        self.config = config
        self.level = level
        self.runtime = Path(tempfile.mkdtemp(prefix=_RUNTIME_PREFIX))
        self.log_path = self.runtime / "kernel.log"
        conn_file, _ = jc.connect.write_connection_file(
            fname=str(self.runtime / "kernel.json"), transport="ipc", ip=str(self.runtime / "k")
        )
        plan = sandbox.plan_launch(config, level, work_dir, self.runtime, Path(conn_file))
        write_matplotlibrc(self.runtime / "tmp" / ".mpl", font_family)
        startup = self.runtime / "tmp" / ".ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-qwen-agent.py").write_text(_STARTUP_CODE, encoding="utf-8")
        self.cgroup = plan.cgroup
        with open(self.log_path, "wb") as log:
            try:
                self.proc: subprocess.Popen = sandbox.spawner.popen(
                    args=plan.argv, env=plan.env, cwd=plan.cwd, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            except OSError as exc:
                self._cleanup()
                raise KernelStartError(f"could not start the kernel ({plan.argv[0]}): {exc}") from exc
        self.client = jc.BlockingKernelClient(connection_file=conn_file)
        self.client.load_connection_file()
        self.client.start_channels()

    # --- life -----------------------------------------------------------------------------------------------
    def wait_ready(self, timeout: float) -> None:
        """Block until shell and iopub both answer; raise KernelStartError (and clean up) otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                break
            msg_id = self.client.kernel_info()
            step_end = min(deadline, time.monotonic() + 0.5)
            while time.monotonic() < step_end:
                try:
                    msg = self.client.get_iopub_msg(timeout=max(0.01, step_end - time.monotonic()))
                except queue.Empty:
                    break
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    self.drain()
                    return
        log = self.log_tail()
        code = self.proc.poll()
        self.kill()
        state = f"exited with code {code}" if code is not None else f"did not answer within {timeout:.0f} s"
        raise KernelStartError(f"the kernel {state} (sandbox level {self.level}). Kernel log:\n{log}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def interrupt(self) -> None:
        """Ask the kernel to interrupt the running cell (ipykernel raises KeyboardInterrupt in it)."""
        msg = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(msg)

    def drain(self) -> None:
        """Drop queued messages (replies to requests nobody waits for any more)."""
        for get in (self.client.get_shell_msg, self.client.get_iopub_msg, self.client.get_control_msg):
            while True:
                try:
                    get(timeout=0)
                except queue.Empty:
                    break

    def kill(self) -> None:
        """Kill the kernel and everything it started; remove its runtime dir. Idempotent."""
        with contextlib.suppress(Exception):  # channels may already be closed
            self.client.stop_channels()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        sandbox.kill_cgroup(self.cgroup)
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self.runtime, ignore_errors=True)

    def log_tail(self, limit: int = 2000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        return data[-limit:].decode("utf-8", "replace") or "(empty log)"
