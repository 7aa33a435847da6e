"""The chat UI in a real headless Chromium, over the scripted model and the real code interpreter."""

from __future__ import annotations

import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.tools.code_interpreter import CodeInterpreter
from tests.ui.conftest import FailingScriptedLLM, PacedScriptedLLM, react_agent, send, ui_server

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

PLOT_CALL = (
    "Thought: I will compute the sum and plot the squares.\nAction: code_interpreter\nAction Input: ```py\n"
    "import matplotlib.pyplot as plt\nxs = [1, 2, 3, 4]\nplt.plot(xs, [x * x for x in xs])\n"
    "plt.title('squares')\nplt.show()\nprint(sum(xs))\n```\nObservation:"
)
PLOT_ANSWER = "Thought: The plot is drawn.\nFinal Answer: The sum is **10**; the plot of `x*x` is above."

ANSWERS = "document.querySelectorAll('.answer').length"
IMAGE_LOADED = "[...document.querySelectorAll('img.plot')].some(i => i.complete && i.naturalWidth > 100)"


def test_streams_steps_and_plot_and_keeps_them_across_reload(page, tmp_path) -> None:
    llm = PacedScriptedLLM([PLOT_CALL, PLOT_ANSWER], delay=0.03)
    with react_agent(llm, [CodeInterpreter()]) as agent, ui_server(agent) as server:
        b = page(server)
        send(b, "What is 1+2+3+4? Plot the squares.")
        # the model's text shows while it is generated, before the step is complete
        draft = b.wait("document.querySelector('pre.draft') && document.querySelector('pre.draft').textContent")
        assert "generating" in draft and not b.js("!!document.querySelector('.step.action')")
        b.wait("!!document.querySelector('.step.action pre.code .tok-kw')")  # code, highlighted
        assert "plt.title('squares')" in b.js("document.querySelector('.step.action').textContent")
        assert b.wait("document.querySelector('.step.observation pre.out')?.textContent") == "10"
        b.wait(IMAGE_LOADED)
        b.wait(f"{ANSWERS} === 1")
        assert b.js("document.querySelector('.answer strong').textContent") == "10"
        assert b.js("!!document.querySelector('a.file[download=\"figures/fig-1.png\"]')")
        assert not b.js("!!document.querySelector('pre.draft')")
        b.screenshot(tmp_path / "desktop.png")
        shown = b.js("document.getElementById('log').innerText")

        b.viewport(390, 844, mobile=True)  # a phone: nothing wider than the screen
        b.js("document.getElementById('log').scrollTop = 0")
        assert b.js("document.documentElement.scrollWidth") <= 390
        b.screenshot(tmp_path / "phone.png")

        b.viewport(1100, 900)
        b.open(b.js("location.href"))  # reload: the conversation is replayed from the server
        b.wait(f"{ANSWERS} === 1")
        b.wait(IMAGE_LOADED)
        assert b.js("document.getElementById('log').innerText") == shown
        b.js("document.getElementById('log').scrollTop = 0")
        b.screenshot(tmp_path / "reloaded.png")
    assert b.console == []


def test_uploads_reach_the_interpreter_text_and_binary(page, tmp_path) -> None:
    csv = tmp_path / "scores.csv"
    csv.write_text("name,score\nada,7\nbob,5\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)  # 1024 bytes, NULs included
    read = ("Action: code_interpreter\nAction Input: ```py\nimport pandas as pd\n"
            "df = pd.read_csv('scores.csv')\nprint(df.score.sum(), len(open('blob.bin', 'rb').read()))\n```\n")
    llm = ScriptedLLM([read, "Final Answer: The scores add up to 12 and blob.bin holds 1024 bytes."])
    with react_agent(llm, [CodeInterpreter()]) as agent, ui_server(agent) as server:
        b = page(server)
        b.set_files("#files", [csv, blob])
        b.wait("document.querySelectorAll('.note.upload').length === 2")
        notes = b.js("[...document.querySelectorAll('.note.upload')].map(n => n.textContent)")
        assert "scores.csv (23 B)" in notes[0] and "blob.bin (binary, 1.0 KB)" in notes[1]
        send(b, "Sum the scores and measure the blob.")
        assert b.wait("document.querySelector('.step.observation pre.out')?.textContent") == "12 1024"
        b.wait(f"{ANSWERS} === 1")
        assert "scores.csv" in b.js("document.querySelector('.msg.user').textContent")
        # the model was told which files arrived
        assert "scores.csv, blob.bin" in llm.calls[0][0][-1].content
        b.screenshot(tmp_path / "uploads.png")
        old_id = b.js("localStorage.getItem('qwen-agent-ui.conversation')")
        b.js("document.getElementById('new').click()")  # a new conversation: empty page, its own work dir
        b.wait(f"localStorage.getItem('qwen-agent-ui.conversation') !== {old_id!r}")
        assert b.js("document.getElementById('log').children.length") == 0
        new_id = b.js("localStorage.getItem('qwen-agent-ui.conversation')")
        store = server.app.state.ui_store
        assert store.get(new_id).work_dir != store.get(old_id).work_dir
        assert list(store.get(new_id).work_dir.iterdir()) == []
        b.open(b.js("location.href"))  # and it is the one a reload shows
        b.wait("document.body.dataset.ready === '1'")
        assert b.js("document.getElementById('log').children.length") == 0


def test_stop_a_running_generation_then_go_on(page, tmp_path) -> None:
    long_reply = "Counting sheep, " * 200
    llm = PacedScriptedLLM([long_reply, "Fine, a short one."], delay=0.02)
    with react_agent(llm, []) as agent, ui_server(agent) as server:
        b = page(server)
        send(b, "Tell me a long story.")
        b.wait("(document.querySelector('pre.draft')?.textContent || '').includes('sheep')")
        b.open(b.js("location.href"))  # a reload mid-answer picks the running answer up again
        b.wait("(document.querySelector('pre.draft')?.textContent || '').includes('sheep')")
        assert b.js("!document.getElementById('stop').hidden")
        b.js("document.getElementById('stop').click()")
        b.wait("(document.getElementById('log').textContent).includes('Stopped by you.')", 10)
        assert b.js(ANSWERS) == 0 and b.js("!document.getElementById('send').hidden")
        kept = b.js("document.querySelector('pre.draft.cut').textContent")  # what was written stays, marked
        assert kept.startswith("stopped here:Counting sheep") and len(kept) < len("stopped here:" + long_reply)
        assert len(llm.calls) == 1
        b.screenshot(tmp_path / "stopped.png")
        send(b, "A short one then.")
        b.wait(f"{ANSWERS} === 1")
        assert b.js("document.querySelector('.answer').textContent") == "Fine, a short one."


def test_huge_paste_and_model_failure_lose_nothing(page, tmp_path) -> None:
    llm = FailingScriptedLLM(["The first try breaks.", "Second try works."],
                             fail_after=9)
    with react_agent(llm, []) as agent, ui_server(agent) as server:
        b = page(server)
        huge = "x" * 150_000
        send(b, huge)
        banner = b.wait("!document.getElementById('banner').hidden && document.getElementById('banner').textContent")
        assert "150,000 characters" in banner and "100,000" in banner
        assert b.js("document.getElementById('input').value.length") == 150_000  # the paste is kept
        assert b.js("document.querySelectorAll('.msg.user').length") == 0

        send(b, "Try me.")
        error = b.wait("document.querySelector('.note.error')?.textContent")
        assert "closed the connection mid-answer" in error
        b.wait("document.getElementById('input').value === 'Try me.'")  # the question is back, ready to resend
        b.screenshot(tmp_path / "model-failed.png")
        b.js("document.getElementById('send').click()")
        b.wait(f"{ANSWERS} === 1")
        assert b.js("document.querySelector('.answer').textContent") == "Second try works."


def test_server_going_away_is_said_and_recovered_from(page, tmp_path) -> None:
    long_reply = "Still talking, " * 300
    with react_agent(PacedScriptedLLM([long_reply], delay=0.02), []) as agent:
        server_cm = ui_server(agent)
        server = server_cm.__enter__()
        port = server.port
        b = page(server)
        send(b, "Talk to me.")
        b.wait("(document.querySelector('pre.draft')?.textContent || '').includes('talking')")
        server_cm.__exit__(None, None, None)  # the server goes away mid-answer
        b.wait("document.getElementById('banner').textContent.includes('Lost the connection')", 15)
        b.screenshot(tmp_path / "server-gone.png")
    with react_agent(ScriptedLLM(["Back again."]), []) as agent2, ui_server(agent2, port=port):
        # the page finds the server again by itself, and says the old conversation is gone
        b.wait("document.getElementById('banner').textContent.includes('no longer knows this conversation')", 15)
        assert b.js("document.querySelectorAll('.msg').length") == 0
        send(b, "Are you there?")
        b.wait(f"{ANSWERS} === 1")
        assert b.js("document.querySelector('.answer').textContent") == "Back again."
        b.screenshot(tmp_path / "server-back.png")


def test_a_keyed_ui_asks_for_its_key(browser) -> None:
    with react_agent(ScriptedLLM(["unlocked"]), []) as agent, ui_server(agent, api_key="open sesame") as server:
        b = browser
        b.open(f"http://127.0.0.1:{server.port}/ui/")
        b.js("localStorage.clear()")
        b.open(f"http://127.0.0.1:{server.port}/ui/")
        b.wait("!document.getElementById('keyform').hidden")
        b.js("document.getElementById('key').value = 'wrong'; document.querySelector('#keyform button').click()")
        b.wait("document.getElementById('banner').textContent === 'wrong access key'")
        b.js("document.getElementById('key').value = 'open sesame'; document.querySelector('#keyform button').click()")
        b.wait("document.body.dataset.ready === '1'")
        assert b.js("document.getElementById('keyform').hidden")
        send(b, "let me in")
        b.wait(f"{ANSWERS} === 1")
        assert b.js("document.querySelector('.answer').textContent") == "unlocked"
