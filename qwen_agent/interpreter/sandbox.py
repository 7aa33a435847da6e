"""Confinement of kernel processes: probing what the host allows and building the launch command.

Levels, strongest first:

* ``bwrap``: bubblewrap with new user, mount, pid, net, ipc and uts namespaces. The kernel sees only the
  system directories (/usr, /lib, read-only), the Python installation (read-only), its work dir and a private
  /tmp; no network unless asked; it dies with its parent.
* ``namespaces``: util-linux ``unshare`` with new user, pid and net namespaces (no file-system view limit).
* ``rlimits``: resource limits and a parent-death signal only.
* ``none``: a plain child process.

Every level adds the resource limits (set inside the sandbox by a small launcher before ipykernel starts),
a clean environment (no host secrets), and, where the host's pids cgroup is writable, a per-kernel cgroup
that caps processes even for root (RLIMIT_NPROC is not enforced for root).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from qwen_agent.errors import ConfigurationError
from qwen_agent.interpreter.config import SandboxConfig

logger = logging.getLogger(__name__)

_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
_ORDER = ("bwrap", "namespaces", "rlimits")

# Runs inside the sandbox: set limits, tie the kernel's life to its parent, then become ipykernel.
_LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
if cfg["pdeathsig"]:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != cfg["parent"]:
        os._exit(1)
for name, value in cfg["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", cfg["connection_file"],
                          "--HistoryManager.enabled=False", "--IPKernelApp.log_level=CRITICAL"])
"""


@dataclass(frozen=True)
class LaunchPlan:
    """The command that starts a confined kernel, and what it needs around it."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    level: str
    cgroup: Path | None


def _probe(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=1)
def available_levels() -> tuple[str, ...]:
    """The sandbox levels this host supports, strongest first (probed once per process)."""
    levels = []
    bwrap = shutil.which("bwrap")
    if bwrap and _probe([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                         "--proc", "/proc", "--dev", "/dev", "true"]):
        levels.append("bwrap")
    unshare = shutil.which("unshare")
    if unshare and _probe([unshare, "--user", "--map-root-user", "--pid", "--fork", "--net",
                           "--kill-child", "true"]):
        levels.append("namespaces")
    levels += ["rlimits", "none"]
    return tuple(levels)


@functools.lru_cache(maxsize=1)
def cgroups_available() -> bool:
    """Whether per-kernel pids cgroups can be made (cgroup v1 pids hierarchy, writable)."""
    probe = _CGROUP_ROOT / f"qwen_agent-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError:
        return False
    return True


_warned: set[str] = set()


def resolve_level(config: SandboxConfig) -> str:
    """The level in force for `config`; warns once per process when "auto" had to fall back."""
    levels = available_levels()
    if config.level != "auto":
        if config.level not in levels:
            raise ConfigurationError(
                f"sandbox level {config.level!r} is not available on this host (available: "
                f"{', '.join(levels)}). Install bubblewrap (apt-get install bubblewrap) or use level='auto'."
            )
        return config.level
    level = next(lvl for lvl in _ORDER if lvl in levels)
    if level != "bwrap" and level not in _warned:
        _warned.add(level)
        warnings.warn(
            f"bubblewrap is not usable here; kernels run with sandbox level {level!r} "
            "(weaker: see docs/interpreter.md). Install bubblewrap for full isolation.",
            RuntimeWarning,
            stacklevel=3,
        )
    return level


def contains_processes(level: str) -> bool:
    """Whether kernels at `level` are capped in process count and cannot outlive their session."""
    pid_ns = level in ("bwrap", "namespaces")
    capped = cgroups_available() or os.geteuid() != 0
    return pid_ns and capped


def describe(level: str) -> str:
    """One line naming the level and what it enforces on this host."""
    fork = "process cap via cgroup" if cgroups_available() else "process cap via RLIMIT_NPROC"
    if os.geteuid() == 0 and not cgroups_available():
        fork = "no process cap (root without a writable pids cgroup)"
    return f"{level} ({fork})"


def make_cgroup(config: SandboxConfig) -> Path | None:
    """A fresh pids cgroup limited to `config.max_processes`, or None where the host has none."""
    if not cgroups_available():
        return None
    _sweep_stale_cgroups()
    path = _CGROUP_ROOT / f"qwen_agent-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(config.max_processes + 8))
    except OSError as exc:
        logger.warning("could not make pids cgroup %s: %s", path, exc)
        return None
    return path


def _sweep_stale_cgroups() -> None:
    """Remove empty cgroups left by processes that were killed before they could clean up."""
    for path in _CGROUP_ROOT.glob("qwen_agent-*-*"):
        owner = path.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()  # fails, harmlessly, while processes remain in it


def kill_cgroup(path: Path | None) -> None:
    """SIGKILL every process left in the cgroup, then remove it (best effort)."""
    if path is None:
        return
    import signal
    import time

    for _ in range(50):
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        path.rmdir()


def _rlimits(config: SandboxConfig, level: str) -> dict[str, int]:
    limits = {
        "RLIMIT_AS": config.memory_mb * 1024 * 1024,
        "RLIMIT_NOFILE": config.max_open_files,
        "RLIMIT_CPU": config.cpu_seconds,
        "RLIMIT_FSIZE": min(config.max_file_mb, config.max_disk_mb) * 1024 * 1024,  # one file within the quota
        "RLIMIT_CORE": 0,
    }
    # RLIMIT_NPROC counts per user: inside a user namespace that is per kernel (and ignored when the user
    # outside is root); without one it would count every process of the host user, so it is not set.
    if level in ("bwrap", "namespaces"):
        limits["RLIMIT_NPROC"] = config.max_processes
    return limits


def clean_env(home: str) -> dict[str, str]:
    """The kernel's environment: nothing from the host but locale and a fixed PATH."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLCONFIGDIR": f"{home}/.mpl",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JPY_PARENT_PID": "",
        "MALLOC_ARENA_MAX": "2",  # per-thread malloc arenas eat the address-space limit (RLIMIT_AS)
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


@functools.lru_cache(maxsize=8)
def _python_paths(python: str) -> list[str]:
    """Directories that make up the Python installation (venv, base, executable's real location)."""
    code = "import sys, json; print(json.dumps(sorted({sys.prefix, sys.base_prefix, sys.exec_prefix})))"
    if python == sys.executable:
        paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    else:
        paths = set(json.loads(subprocess.check_output([python, "-c", code], text=True)))
    paths.add(str(Path(os.path.realpath(python)).parent.parent))
    return sorted(p for p in paths if not p.startswith(("/usr/", "/bin", "/lib")) and p != "/usr")  # bound anyway


def _bwrap_args(config: SandboxConfig, python: str, work_dir: Path, runtime: Path) -> list[str]:
    args = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--hostname", "sandbox"]
    if config.network:
        args.append("--share-net")
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for etc in ("ld.so.cache", "fonts", "localtime", "alternatives", "mime.types"):
        args += ["--ro-bind-try", f"/etc/{etc}", f"/etc/{etc}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(runtime / "tmp"), "/tmp"]
    # After the private /tmp, so a virtualenv (or extra path) that lives under /tmp stays visible.
    for path in [*_python_paths(python), *config.extra_ro_paths]:
        args += ["--ro-bind", path, path]
    args += ["--bind", str(runtime), str(runtime),
             "--bind", str(work_dir), str(work_dir),
             "--remount-ro", "/", "--chdir", str(work_dir)]
    return args


def plan_launch(config: SandboxConfig, level: str, work_dir: Path, runtime: Path,
                connection_file: Path) -> LaunchPlan:
    """The argv, environment and cgroup to start one kernel at `level`."""
    python = config.python or sys.executable
    (runtime / "tmp").mkdir(exist_ok=True)
    home = "/tmp" if level == "bwrap" else str(runtime / "tmp")
    launcher_cfg = {
        "pdeathsig": level in ("rlimits", "none"),
        "parent": os.getpid(),
        "rlimits": _rlimits(config, level) if level != "none" else {},
        "connection_file": str(connection_file),
    }
    argv = [python, "-c", _LAUNCHER, json.dumps(launcher_cfg)]
    if level == "bwrap":
        argv = [*_bwrap_args(config, python, work_dir, runtime), *argv]
    elif level == "namespaces":
        prefix = [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--pid", "--fork",
                  "--mount-proc", "--kill-child"]
        if not config.network:
            prefix.insert(1, "--net")
        setpriv = shutil.which("setpriv")
        argv = [*([setpriv, "--pdeathsig", "KILL"] if setpriv else []), *prefix, *argv]
    cgroup = make_cgroup(config) if level != "none" else None
    if cgroup is not None:  # the shell joins the cgroup, then becomes the sandbox (same pid)
        argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup / "cgroup.procs"), *argv]
    return LaunchPlan(argv=argv, env=clean_env(home), cwd=str(work_dir), level=level, cgroup=cgroup)


class _Spawner:
    """Starts processes from one long-lived thread.

    A parent-death signal fires when the *thread* that forked the child exits, so kernels must not be
    started from short-lived threads (a pool's filler, a restart after a timeout). All starts go here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._jobs: list[tuple[dict, list, threading.Event]] = []
        self._wake = threading.Condition(self._lock)

    def popen(self, **kwargs) -> subprocess.Popen:
        box: list = []
        done = threading.Event()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="qwen-agent-kernel-spawner", daemon=True)
                self._thread.start()
            self._jobs.append((kwargs, box, done))
            self._wake.notify()
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._jobs:
                    self._wake.wait()
                kwargs, box, done = self._jobs.pop(0)
            try:
                box.append(subprocess.Popen(**kwargs))
            except BaseException as exc:  # handed to the caller
                box.append(exc)
            done.set()


spawner = _Spawner()
