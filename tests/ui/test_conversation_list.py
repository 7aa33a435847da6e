"""The page's list of conversations in a real headless Chromium: titles, switching, deleting."""

from __future__ import annotations

import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from tests.ui.conftest import react_agent, send, ui_server

pytestmark = [pytest.mark.browser]

ANSWERS = "document.querySelectorAll('.answer').length"
TITLES = "[...document.querySelectorAll('#chat-list .open')].map(b => b.textContent)"
CURRENT = "localStorage.getItem('qwen-agent-ui.conversation')"


def test_switch_between_conversations_and_delete_one(page, tmp_path) -> None:
    llm = ScriptedLLM(["Paris.", "Rome."])
    with react_agent(llm, []) as agent, ui_server(agent, data_dir=tmp_path) as server:
        b = page(server)
        send(b, "Capital of France?")
        b.wait(f"{ANSWERS} === 1")
        first = b.js(CURRENT)
        b.js("document.getElementById('new').click()")
        b.wait(f"{CURRENT} !== {first!r}")
        send(b, "Capital of Italy?")
        b.wait(f"{ANSWERS} === 1")
        b.wait(f"{TITLES}.join('|') === 'Capital of Italy?|Capital of France?'")  # newest first
        second = b.js(CURRENT)

        b.js("document.querySelectorAll('#chat-list .open')[1].click()")  # back to the first
        b.wait("document.querySelector('.answer')?.textContent === 'Paris.'")
        assert b.js(CURRENT) == first and b.js(ANSWERS) == 1
        assert b.js("document.querySelector('#chat-list li.current .open').textContent") == "Capital of France?"

        delete = "document.querySelector('#chat-list li.current .delete')"
        b.js(f"{delete}.click()")  # the first click only asks
        assert b.js(f"{delete}.textContent") == "Delete?" and len(b.js(TITLES)) == 2
        b.js(f"{delete}.click()")
        b.wait(f"{TITLES}.join('|') === 'Capital of Italy?'")
        b.wait(f"{CURRENT} === {second!r}")  # the page went on to the one left
        b.wait("document.querySelector('.answer')?.textContent === 'Rome.'")
        assert not (tmp_path / "work" / first).exists()
        assert server.app.state.ui_store.get(first) is None

        b.viewport(390, 844, mobile=True)  # a phone: the list hides behind the Chats button
        visible = "(id) => document.getElementById(id).getBoundingClientRect().width > 0"
        assert not b.js(f"({visible})('chats')") and b.js(f"({visible})('log')")
        b.js("document.getElementById('chats-toggle').click()")
        assert b.js(f"({visible})('chats')") and not b.js(f"({visible})('log')")
        assert b.js("document.documentElement.scrollWidth") <= 390
        b.js("document.querySelector('#chat-list .open').click()")  # choosing one shows it again
        assert not b.js(f"({visible})('chats')") and b.js(f"({visible})('log')")
        b.viewport(1100, 900)
