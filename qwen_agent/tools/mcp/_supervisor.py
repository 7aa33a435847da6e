"""Runs one stdio MCP server so that it cannot outlive the agent (a standalone script: no package imports).

Usage: python -I _supervisor.py PARENT_PID STDERR_CAP MESSAGE_CAP COMMAND [ARGS...]

The MCP SDK starts this script as a process-group leader; the server inherits its stdin. This script
* asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a SIGKILLed agent still ends it;
* becomes a child subreaper, so descendants that detach (double fork, setsid) are reparented here and found;
* on SIGTERM, or when the server exits, SIGKILLs its whole process group and every descendant;
* relays the server's stderr, keeping at most STDERR_CAP bytes in the log (the tail survives a flood);
* relays the server's stdout line by line (JSON-RPC messages), replacing a message over MESSAGE_CAP bytes by a
  JSON-RPC error for the same request id, so a flood costs neither the client's memory nor its time (the SDK's
  reader joins chunks quadratically).
"""

import contextlib
import ctypes
import json
import os
import re
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


class StderrLog:
    """Appends to fd 2, starting again (with a note) when the log would pass `cap` bytes."""

    def __init__(self, cap):
        self.cap, self.written = cap, 0

    def write(self, chunk):
        if self.written + len(chunk) > self.cap:
            with contextlib.suppress(OSError):
                os.ftruncate(2, 0)
                os.lseek(2, 0, os.SEEK_SET)
                os.write(2, b"[earlier stderr cut]\n")
            self.written = 0
        with contextlib.suppress(OSError):
            self.written += os.write(2, chunk[-self.cap:])


_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')


class MessageRelay:
    """Copies newline-delimited messages to fd 1; one over `cap` bytes becomes an error reply to its id."""

    def __init__(self, cap):
        self.cap, self.parts, self.size, self.head, self.tail = cap, [], 0, b"", b""

    def feed(self, chunk):
        while chunk:
            line, newline, chunk = chunk.partition(b"\n")
            self._add(line)
            if newline:
                self._end_line()

    def _add(self, piece):
        size = self.size + len(piece)
        if size <= self.cap:
            self.parts.append(piece)
        elif self.size <= self.cap:  # just went over: keep only the head and a rolling tail
            joined = b"".join(self.parts) + piece
            self.head, self.tail, self.parts = joined[:300], joined[-300:], []
        else:
            self.tail = (self.tail + piece)[-300:]
        self.size = size

    def _end_line(self):
        if self.size <= self.cap:
            write_all(b"".join(self.parts) + b"\n")
        else:
            found = _ID.search(self.head) or _ID.search(self.tail)
            note = (f"the MCP server's reply was {self.size} bytes, over the client's limit of {self.cap}; "
                    "it was dropped. Ask for less (a smaller range, a filter, a page).")
            if found:
                reply = {"jsonrpc": "2.0", "id": json.loads(found.group(1)), "error": {"code": -32603, "message": note}}
                write_all(json.dumps(reply).encode() + b"\n")
            os.write(2, (note + "\n").encode())
        self.parts, self.size, self.head, self.tail = [], 0, b"", b""


def write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def relay(server, out_pipe, err_pipe, stderr_log, messages):
    open_pipes = {out_pipe: messages.feed, err_pipe: stderr_log.write}
    while open_pipes:
        ready, _, _ = select.select(list(open_pipes), [], [], 0.2)
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if chunk:
                open_pipes[fd](chunk)
            else:
                del open_pipes[fd]
        if not ready and server.poll() is not None:
            return


def main():
    parent, stderr_cap, message_cap, argv = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, kill_everything)
    signal.signal(signal.SIGINT, kill_everything)
    if os.getppid() != parent:  # the parent died before the signal was armed
        kill_everything()
    try:
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    except OSError as exc:
        print(f"cannot start MCP server {argv[0]!r}: {exc}", file=sys.stderr, flush=True)
        sys.exit(127)
    relay(server, server.stdout.fileno(), server.stderr.fileno(), StderrLog(stderr_cap), MessageRelay(message_cap))
    code = server.wait()
    for pid in descendants(os.getpid()):  # helpers the server left behind
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
