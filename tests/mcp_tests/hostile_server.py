"""A raw stdio JSON-RPC MCP server that misbehaves on purpose: `python hostile_server.py MODE [PIDFILE]`.

Modes (what happens on tools/call, unless said otherwise):
  crash      exits mid-call, every time
  hang       never answers (and ignores SIGTERM and stdin EOF: only SIGKILL ends it)
  flood      answers with a 50 MB text result
  malformed  writes lines that are not JSON-RPC instead of the answer
  badschema  tools/list offers one tool with an invalid input schema next to a good one; calls answer "ok"
  daemon     starts a detached grandchild (new session, ignores SIGTERM) and writes both pids to PIDFILE;
             ignores SIGTERM and stdin EOF itself
  nostart    writes an error to stderr and exits before answering initialize
  silent     never answers anything, not even initialize
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

MODE = sys.argv[1]
GOOD = {"name": "echo", "description": "echo the text",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}
BAD = {"name": "broken", "description": "schema is invalid",
       "inputSchema": {"type": "object", "properties": {"x": {"type": "no-such-type"}}}}


def send(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def answer_call(msg_id: object) -> None:
    if MODE == "crash":
        print("hostile: crashing mid-call", file=sys.stderr, flush=True)
        os._exit(7)
    if MODE in ("hang", "daemon"):
        return
    if MODE == "flood":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {"content": [{"type": "text", "text": "x" * 50_000_000}]}})
        return
    if MODE == "malformed":
        sys.stdout.write("this is not json\n{\"jsonrpc\": \"2.0\", \"id\": \n[1, 2, 3]\n")
        sys.stdout.flush()
        return
    send({"jsonrpc": "2.0", "id": msg_id, "result": {"content": [{"type": "text", "text": "ok"}]}})


def handle(msg: dict) -> None:
    method, msg_id = msg.get("method"), msg.get("id")
    if MODE == "silent":
        return
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {
            "protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
            "serverInfo": {"name": f"hostile-{MODE}", "version": "0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {"tools": [GOOD, BAD] if MODE == "badschema" else [GOOD]}})
    elif method == "tools/call":
        answer_call(msg_id)
    elif msg_id is not None and method is not None:
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"no method {method}"}})


def start_daemon() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                              "signal.SIG_IGN); time.sleep(600)"], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(sys.argv[2], "w") as f:
        json.dump([os.getpid(), child.pid], f)


def main() -> None:
    if MODE == "nostart":
        print("hostile: cannot open database /nonexistent/db.sqlite", file=sys.stderr, flush=True)
        sys.exit(2)
    if MODE in ("hang", "daemon"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if MODE == "daemon":
        start_daemon()
    for line in sys.stdin:
        if line.strip():
            handle(json.loads(line))
    while MODE in ("hang", "daemon"):  # stdin closed: a well-behaved server would exit now
        time.sleep(1)


if __name__ == "__main__":
    main()
