"""Sandbox configuration: the isolation level asked for and the resource limits of one kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qwen_agent.errors import ConfigurationError

SandboxLevel = Literal["auto", "bwrap", "namespaces", "rlimits", "none"]
_LEVELS = ("auto", "bwrap", "namespaces", "rlimits", "none")


@dataclass(frozen=True)
class SandboxConfig:
    """How a kernel is confined. All limits apply to one kernel and everything it starts.

    Attributes:
        level: "auto" picks the strongest level the host allows (bwrap > namespaces > rlimits) and warns
            once when it has to fall back; naming a level makes its absence an error. "none" runs the
            kernel as a plain child process (still in its work dir, with a clean environment).
        network: allow network access (off by default: the kernel gets an empty network namespace).
        memory_mb: address-space limit (RLIMIT_AS) of each process; a memory bomb gets a MemoryError.
        max_processes: processes and threads the kernel may have at once (pids cgroup or RLIMIT_NPROC).
        max_open_files: RLIMIT_NOFILE.
        cpu_seconds: CPU time of the kernel over its whole life (RLIMIT_CPU); past it the kernel dies.
        max_file_mb: the largest file the kernel may write (RLIMIT_FSIZE; never more than max_disk_mb).
        max_disk_mb: total disk the session's files may take (work dir and private /tmp together), watched by
            the host; growth past it stops the execution with a DiskQuotaExceeded error.
        max_files: how many files and directories the session may have (the same watcher).
        max_output_bytes: stdout/stderr characters kept per execution; past it the output is cut (the
            result says how much) and, at four times the limit, the execution is interrupted.
        interrupt_grace: seconds an interrupted execution has to return to idle before the kernel is
            killed and replaced.
        startup_timeout: seconds a kernel has to start and answer.
        python: the interpreter that runs ipykernel (default: the current one).
        extra_ro_paths: more host paths the kernel may read (bwrap level only; e.g. a dataset directory).
    """

    level: SandboxLevel = "auto"
    network: bool = False
    memory_mb: int = 2048
    max_processes: int = 64
    max_open_files: int = 256
    cpu_seconds: int = 3600
    max_file_mb: int = 512
    max_disk_mb: int = 1024
    max_files: int = 10_000
    max_output_bytes: int = 1_000_000
    interrupt_grace: float = 1.0
    startup_timeout: float = 60.0
    python: str | None = None
    extra_ro_paths: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.level not in _LEVELS:
            raise ConfigurationError(f"unknown sandbox level {self.level!r}; use one of {', '.join(_LEVELS)}")
        for name in ("memory_mb", "max_processes", "max_open_files", "cpu_seconds", "max_file_mb",
                     "max_disk_mb", "max_files"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"SandboxConfig.{name} must be a positive integer, got {value!r}")
        if self.max_processes < 8:
            raise ConfigurationError("SandboxConfig.max_processes must be at least 8 (a kernel runs threads)")
        if self.max_output_bytes < 1000:
            raise ConfigurationError("SandboxConfig.max_output_bytes must be at least 1000")
        if self.interrupt_grace <= 0 or self.startup_timeout <= 0:
            raise ConfigurationError("SandboxConfig.interrupt_grace and startup_timeout must be positive")
        object.__setattr__(self, "extra_ro_paths", tuple(self.extra_ro_paths))
