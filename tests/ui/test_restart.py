"""kill -9 of a running `qwen-agent ui` in the middle of a run, then a restart on the same data dir: the page
(a real headless Chromium) finds the server again and shows the completed steps, the files and the run marked
interrupted, and the user goes on. The model is a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import alive, descendants
from tests.scripted_server import ScriptedOpenAIServer
from tests.ui.conftest import send

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

WRITE = ('<tool_call>\n{"name": "code_interpreter", "arguments": {"code": '
         + json.dumps("open('result.txt', 'w').write('42')\nsecret = 6\nprint('wrote it')") + "}}\n</tool_call>")


class Model:
    """The scripted replies: a call that writes a file; then a turn that hangs until released (the server is
    killed meanwhile); then, after the restart, an answer."""

    def __init__(self) -> None:
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.bodies: list[dict] = []

    def __call__(self, body: dict) -> str:
        self.bodies.append(body)
        if len(self.bodies) == 1:
            return WRITE
        if len(self.bodies) == 2:
            self.hanging.set()
            self.release.wait(60)
            return "too late"
        return "result.txt still holds 42; the variable `secret` is gone with the old kernel."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ui(base_url: str, port: int, data_dir: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "qwen_agent.cli", "ui", "--base-url", base_url, "--model", "m", "--tool",
           "code_interpreter", "--no-browser", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=REPO)
    deadline = time.monotonic() + 60
    while True:  # until it answers
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui/api/info", timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)


def _kill_tree(proc: subprocess.Popen) -> None:
    """kill -9 the UI and, as its end would leave them running, the kernels it started."""
    kids = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for pid in kids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_kill_9_mid_run_then_restart_shows_the_steps_files_and_the_interrupted_run(browser, tmp_path) -> None:
    model = Model()
    port, data = _free_port(), tmp_path / "data"
    with ScriptedOpenAIServer(respond=model) as upstream:
        ui = _start_ui(upstream.base_url, port, data, tmp_path / "first.log")
        try:
            b = browser
            b.viewport(1100, 900)
            b.open(f"http://127.0.0.1:{port}/ui/")
            b.js("localStorage.clear()")
            b.open(f"http://127.0.0.1:{port}/ui/")
            b.wait("document.body.dataset.ready === '1'", 30)
            send(b, "Write 42 to result.txt, then think it over.")
            assert b.wait("document.querySelector('.step.observation pre.out')?.textContent", 60) == "wrote it"
            assert model.hanging.wait(30)  # the second model turn is under way
            _kill_tree(ui)
        finally:
            model.release.set()
            if ui.poll() is None:
                _kill_tree(ui)

        db = sqlite3.connect(data / "ui.sqlite")  # what the killed process left: the run still marked running
        (cid, status), = db.execute("SELECT id, status FROM conversations").fetchall()
        kinds = [json.loads(d).get("kind") for (d,) in db.execute(
            "SELECT data FROM records WHERE conversation = ? AND kind = 'step' ORDER BY seq", (cid,))]
        db.close()
        assert status == "running" and "observation" in kinds and "final" not in kinds
        b.wait("document.getElementById('banner').textContent.includes('Lost the connection')", 15)

        ui = _start_ui(upstream.base_url, port, data, tmp_path / "second.log")
        try:
            # the page finds the restarted server by itself and replays the conversation from the store
            note = b.wait("document.querySelector('.note.interrupted')?.textContent", 30)
            assert "interpreter's variables are gone" in note and "files are kept" in note
            assert b.js("document.querySelector('.step.observation pre.out').textContent") == "wrote it"
            assert b.js("!!document.querySelector('a.file[download=\"result.txt\"]')")
            url = b.js("document.querySelector('a.file[download=\"result.txt\"]').href")
            assert b.js(f"fetch({json.dumps(url)}).then(r => r.text())") == "42"
            item = "document.querySelector('#chat-list li.current')"
            assert b.js(f"{item}.querySelector('.open').firstChild.textContent") == \
                "Write 42 to result.txt, then think it over."
            assert b.js(f"{item}.classList.contains('interrupted')")
            assert b.js("!document.getElementById('send').hidden")  # not shown as running
            b.screenshot(tmp_path / "interrupted.png")

            send(b, "Go on.")
            answer = b.wait("document.querySelector('.answer')?.textContent", 30)
            assert answer.startswith("result.txt still holds 42")
            sent = [m.get("content") for m in model.bodies[2]["messages"] if m["role"] == "user"]
            assert sent[0] == "Write 42 to result.txt, then think it over." and sent[-1] == "Go on."
            b.wait(f"!{item}.classList.contains('interrupted')", 10)  # the list no longer says so
        finally:
            ui.send_signal(signal.SIGTERM)
            try:
                ui.wait(20)
            except subprocess.TimeoutExpired:
                _kill_tree(ui)
