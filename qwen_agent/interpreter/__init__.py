"""Sandboxed Jupyter kernels: sessions with caller-side deadlines, a pre-started pool, resource limits.

This package knows nothing of tools or agents. jupyter_client is imported only when a kernel starts.
"""

from __future__ import annotations

from qwen_agent.interpreter.config import SandboxConfig
from qwen_agent.interpreter.pool import KernelPool
from qwen_agent.interpreter.result import ErrorInfo, ExecutionResult
from qwen_agent.interpreter.sandbox import available_levels
from qwen_agent.interpreter.session import KernelSession

__all__ = ["ErrorInfo", "ExecutionResult", "KernelPool", "KernelSession", "SandboxConfig", "available_levels"]
