"""The UI over a real uvicorn server on 127.0.0.1, the scripted model, real kernels, a real headless Chromium."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from qwen_agent import Agent
from qwen_agent.errors import ModelError
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.server import ServerThread
from qwen_agent.ui import create_ui_app
from tests.ui.cdp import Browser, chromium_path


class PacedScriptedLLM(ScriptedLLM):
    """The scripted double, paced like a model generating: `delay` seconds before each chunk."""

    def __init__(self, responses: list[str], *, delay: float = 0.02, **kwargs: Any) -> None:
        super().__init__(responses, **kwargs)
        self.delay = delay

    def _stream(self, prompt, stop, config):
        for chunk in super()._stream(prompt, stop, config):
            time.sleep(self.delay)
            yield chunk


class FailingScriptedLLM(ScriptedLLM):
    """The scripted double whose stream breaks after `fail_after` characters of the first reply, as a model
    server that drops the connection does; later calls replay the rest normally."""

    def __init__(self, responses: list[str], *, fail_after: int, **kwargs: Any) -> None:
        super().__init__(responses, **kwargs)
        self.fail_after = fail_after
        self.failed = False

    def _stream(self, prompt, stop, config):
        sent = 0
        for chunk in super()._stream(prompt, stop, config):
            if not self.failed and sent >= self.fail_after:
                self.failed = True
                raise ModelError("the model server closed the connection mid-answer")
            sent += len(chunk.text)
            yield chunk


@pytest.fixture(autouse=True)
def _data_dir_of_the_test(tmp_path, monkeypatch) -> None:
    """A `qwen-agent ui` a test starts without --data-dir keeps its conversations in the test's folder, not
    in the home directory."""
    monkeypatch.setenv("QWEN_AGENT_DATA", str(tmp_path / "qwen-agent-data"))


def react_agent(llm, tools=()) -> Agent:
    """An agent in Qwen's ReAct format, the one the scripted replies of these tests are written in."""
    return Agent(llm, list(tools), lang="en")


@contextmanager
def ui_server(agent: Agent, port: int = 0, **kwargs: Any) -> Iterator[ServerThread]:
    with ServerThread(create_ui_app(agent, **kwargs), port=port) as server:
        yield server


def ui_url(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.port}/ui/"


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Browser]:
    binary = chromium_path()
    if binary is None:
        how = "needs Chromium (Debian: apt-get install -y chromium)"
        if os.environ.get("QWEN_AGENT_REQUIRE_BROWSER"):  # set by .ci/run, which installs it
            pytest.fail(f"{how}: CI should have installed it")
        pytest.skip(how)
    with Browser(tmp_path_factory.mktemp("chromium-profile"), binary) as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Callable[[ServerThread], Browser]:
    """page(server): the browser on a fresh UI page of `server` (no conversation kept from earlier tests)."""

    def open_page(server: ServerThread) -> Browser:
        browser.viewport(1100, 900)
        browser.open(ui_url(server))
        browser.js("localStorage.clear()")
        browser.open(ui_url(server))
        browser.wait("document.body.dataset.ready === '1'")
        return browser

    return open_page


def send(b: Browser, text: str) -> None:
    b.js(f"document.getElementById('input').value = {json.dumps(text)}; document.getElementById('send').click()")


def idle(b: Browser, timeout: float = 30.0) -> None:
    """Wait until no run is going (Send is back)."""
    b.wait("!document.body.classList.contains('running') && !document.getElementById('send').hidden", timeout)
