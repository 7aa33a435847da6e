"""Runs one stdio MCP server so that it cannot outlive the agent (a standalone script: no package imports).

Usage: python -I _supervisor.py PARENT_PID STDERR_CAP COMMAND [ARGS...]

The MCP SDK starts this script as a process-group leader with the server's stdin and stdout; the server inherits
them directly (no copying). This script
* asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a SIGKILLed agent still ends it;
* becomes a child subreaper, so descendants that detach (double fork, setsid) are reparented here and found;
* on SIGTERM, or when the server exits, SIGKILLs its whole process group and every descendant;
* relays the server's stderr, keeping at most STDERR_CAP bytes in the log (the tail survives a flood).
"""

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_everything(*_):
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGKILL)
    os._exit(143)


def relay_stderr(server, pipe, cap):
    written = 0
    while True:
        ready, _, _ = select.select([pipe], [], [], 0.2)
        chunk = os.read(pipe, 65536) if ready else b""
        if ready and not chunk:
            return
        if chunk:
            if written + len(chunk) > cap:  # keep the tail: start the log again
                with contextlib.suppress(OSError):
                    os.ftruncate(2, 0)
                    os.lseek(2, 0, os.SEEK_SET)
                    os.write(2, b"[earlier stderr cut]\n")
                written = 0
            with contextlib.suppress(OSError):
                written += os.write(2, chunk[-cap:])
        elif server.poll() is not None:
            return


def main():
    parent, cap, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, kill_everything)
    signal.signal(signal.SIGINT, kill_everything)
    if os.getppid() != parent:  # the parent died before the signal was armed
        kill_everything()
    read_end, write_end = os.pipe()
    try:
        server = subprocess.Popen(argv, stderr=write_end, close_fds=True)
    except OSError as exc:
        print(f"cannot start MCP server {argv[0]!r}: {exc}", file=sys.stderr, flush=True)
        sys.exit(127)
    os.close(write_end)
    relay_stderr(server, read_end, cap)
    code = server.wait()
    for pid in descendants(os.getpid()):  # helpers the server left behind
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
