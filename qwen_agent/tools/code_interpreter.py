"""The code_interpreter tool: Python code from the model, run in a sandboxed Jupyter kernel session."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import json5

from qwen_agent.errors import ConfigurationError, ToolArgumentError
from qwen_agent.interpreter import KernelPool, KernelSession, SandboxConfig
from qwen_agent.text import truncate_middle
from qwen_agent.tools.base import Tool

_FENCED_RE = re.compile(r"```[ \t]*(?:py|python|python3|ipython)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(text: str) -> str:
    """The code in a call's arguments: a JSON object's "code", the first ```py fenced block, or the raw text.

    Raises:
        ToolArgumentError: for a JSON object without a string "code", or empty code.
    """
    body = text.strip()
    value: Any = None
    if body.startswith("{"):
        try:
            value = json5.loads(body)
        except ValueError:
            value = None
    if isinstance(value, dict):
        code = value.get("code")
        if not isinstance(code, str):
            raise ToolArgumentError(
                'the arguments for code_interpreter must be {"code": "<python code>"}, raw code, or a '
                f"```py fenced block; got a JSON object with keys {sorted(value)}."
            )
        body = code
    fenced = _FENCED_RE.search(body)
    if fenced:
        body = fenced.group(1)
    if not body.strip():
        raise ToolArgumentError("code_interpreter got no code: send Python code to run.")
    return body


class CodeInterpreter(Tool):
    """Runs Python in a stateful, sandboxed Jupyter kernel; one session per tool instance.

    The session starts on the first call (taken from `pool` when given, which makes the first call fast)
    and lives until `close()`. Variables, imports and files persist between calls.

    Args:
        timeout: seconds each call may run (enforced by the caller; the kernel is interrupted or replaced).
        max_output_chars: the observation is cut to this size, keeping head and tail.
        pool: a KernelPool to take the session from (and give it back to on close).
        work_dir: the session's work dir when not using a pool (default: a fresh temporary dir).
        sandbox: limits of the session when not using a pool.
    """

    name = "code_interpreter"
    name_for_human = "code interpreter"
    concurrent = False  # one kernel: the calls of a turn run in order, each seeing the state the last left
    description = (
        "Python code sandbox: runs the given code in a stateful Jupyter kernel and returns what it printed, "
        "the value of the last expression, errors, and images as markdown links. Use plt.show() to show plots."
    )
    parameters = {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "Python code to run"}},
        "required": ["code"],
    }

    def __init__(self, timeout: float = 30.0, max_output_chars: int = 4000, pool: KernelPool | None = None,
                 work_dir: str | Path | None = None, sandbox: SandboxConfig | None = None) -> None:
        if timeout <= 0:
            raise ConfigurationError(f"CodeInterpreter timeout must be positive, got {timeout}")
        if max_output_chars < 200:
            raise ConfigurationError("CodeInterpreter max_output_chars must be at least 200")
        if pool is not None and (work_dir is not None or sandbox is not None):
            raise ConfigurationError("give either pool or work_dir/sandbox: a pool's sessions use its settings")
        self.timeout = timeout
        self.max_output_chars = max_output_chars
        self._pool = pool
        self._work_dir = work_dir
        self._sandbox = sandbox
        self._session: KernelSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> KernelSession:
        """The tool's kernel session, started on first use."""
        with self._lock:
            if self._session is None:
                if self._pool is not None:
                    self._session = self._pool.acquire()
                else:
                    self._session = KernelSession(work_dir=self._work_dir, sandbox=self._sandbox).start()
            return self._session

    def parse_arguments(self, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(arguments, Mapping):
            code = arguments.get("code")
            if not isinstance(code, str):
                raise ToolArgumentError('code_interpreter needs {"code": "<python code>"}.')
            return {"code": extract_code(code)}
        return {"code": extract_code(arguments)}

    def run(self, code: str) -> str:  # type: ignore[override]
        result = self.session.execute(code, timeout=self.timeout)
        return truncate_middle(result.to_text(), self.max_output_chars)

    def interrupt(self) -> bool:
        """Interrupt the code running now (from another thread); False when no session has started."""
        session = self._session
        return session.interrupt() if session is not None else False

    def upload(self, path: str | Path, name: str | None = None) -> str:
        """Copy a file into the session's work dir; returns the relative path to give the model."""
        return self.session.upload(path, name)

    def close(self) -> None:
        """Close the session (or give it back to the pool, which discards it)."""
        with self._lock:
            session, self._session = self._session, None
        if session is None:
            return
        if self._pool is not None:
            self._pool.release(session)
        else:
            session.close()

    def __enter__(self) -> CodeInterpreter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
