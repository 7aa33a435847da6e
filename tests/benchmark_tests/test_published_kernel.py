"""Issue 12, the items that need a real sandboxed kernel: General re-run (1), episode end and clean figures end
to end (3), the observation layout of real kernel messages (5), the kernel preamble (8). Item 6 is checked in
test_bench_code_interpreter.py::test_live_model_sees_the_react_prompt_files_and_observations."""

from __future__ import annotations

import json

import pytest

from benchmarks import code_interpreter as ci
from benchmarks.code_interpreter.episode import EpisodeRules, extract_code, prepare_code, published_preamble
from benchmarks.code_interpreter.general_check import run_general_check
from benchmarks.code_interpreter.rules import general_check_code, published_observation
from qwen_agent.interpreter import KernelSession, SandboxConfig
from qwen_agent.interpreter.fonts import find_cjk_font
from tests.scripted_server import ScriptedOpenAIServer

pytestmark = pytest.mark.kernel


def _code(code: str) -> str:
    return f"Thought: code\nAction: code_interpreter\nAction Input:\n```py\n{code}\n```\n"


@pytest.fixture(scope="module")
def session():
    with KernelSession(sandbox=SandboxConfig()) as s:
        yield s


def test_general_rerun_is_plain_python_in_the_sandbox(session):
    def check(code: str):
        return run_general_check(session, general_check_code(_code(code), "q", extract_code), [], 60)

    assert check("print(1)").executable
    # IPython-only syntax ran in the kernel but fails under plain Python, as it failed under exec()
    shown = check("import pandas as pd\ndf = pd.DataFrame({'a': [1]})\ndisplay(df)")
    assert (shown.executable, shown.reason) == (False, "error") and "NameError" in shown.detail
    magic = check("%matplotlib inline\nprint(1)")
    assert not magic.executable and "SyntaxError" in magic.detail
    missing = check("import surely_not_an_installed_package_xyz")
    assert (missing.executable, missing.reason) == (False, "missing package")  # nothing was pip-installed
    net = check("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)")
    assert (net.executable, net.reason) == (False, "network")
    assert run_general_check(session, "", [], 60).reason == "missing code"


def test_general_rate_published_vs_kernel_status(tmp_path):
    data = tmp_path / "tasks.jsonl"
    data.write_text("".join(json.dumps({"id": f"g{i}", "query": f"task {i}", "tags": "general"}) + "\n"
                            for i in range(3)))
    turns = {"general:g0": [_code("print(1)")],
             "general:g1": [_code("import pandas as pd\ndisplay(pd.DataFrame({'a': [1]}))")],
             "general:g2": [_code("%matplotlib inline\nx = 1")]}
    replay = tmp_path / "r.jsonl"
    replay.write_text("".join(json.dumps({"id": k, "turns": v}) + "\n" for k, v in turns.items()))
    base = ["--task", "general", "--data", str(data), "--replay", str(replay), "--no-progress"]
    # published: only g0 runs as plain Python -> 1/3; the kernel ran all three without error -> 3/3 (ours)
    m = ci.run(ci.parse_args([*base, "--output", str(tmp_path / "p.jsonl")]))["metrics"]
    assert m["general"] == pytest.approx(1 / 3) and m["general_failures"] == {"error": 2}
    m = ci.run(ci.parse_args([*base, "--general-rule", "kernel", "--output", str(tmp_path / "k.jsonl")]))["metrics"]
    assert m["general"] == 1.0


def test_a_printed_error_word_ends_the_episode_and_is_not_judged(tmp_path):
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps({"id": "v0", "query": "plot the error", "tags": "visualization"}) + "\n")
    plot = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('mean squared error: 0.1')\nplt.show()"
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"id": "visualization:v0", "turns": [_code(plot), " more", " end"]}) + "\n")
    base = ["--task", "visualization", "--data", str(data), "--replay", str(replay), "--no-progress"]
    with ScriptedOpenAIServer(["right"]) as judge:
        m = ci.run(ci.parse_args([*base, "--judge", judge.base_url, "--output", str(tmp_path / "p.jsonl")]))
    # published: "error:" in the observation -> no clean figure, never judged, and the episode ended there
    assert m["metrics"]["visualization_hard"] == 0.0 and judge.requests == []
    row = json.loads((tmp_path / "p.jsonl").read_text())
    assert len(row["turns"]) == 1 and row["clean_image"] is False and len(row["images"]) == 1
    with ScriptedOpenAIServer(["right"]) as judge:  # ours: the kernel said ok -> judged "right"
        m = ci.run(ci.parse_args([*base, "--judge", judge.base_url, "--figure-rule", "status",
                                  "--output", str(tmp_path / "s.jsonl")]))
    assert m["metrics"]["visualization_hard"] == 1.0 and len(judge.requests) == 1


def test_real_kernel_messages_become_one_block_each_in_order(session):
    code = "print('a')\nfrom IPython.display import display\ndisplay('shown')\nprint('c')\n42"
    r = session.execute(code, timeout=30)
    assert published_observation(r, 30, []) == (
        "stdout:\n\n```\na\n\n```\n\ndisplay_data:\n\n```\n'shown'\n```\n\nstdout:\n\n```\nc\n\n```"
        "\n\nexecute_result:\n\n```\n42\n```")


def test_kernel_sees_the_published_preamble():
    with KernelSession(sandbox=SandboxConfig()) as s:
        s.execute(published_preamble(), timeout=120)
        r = s.execute("print(type(sns).__name__, plt.rcParams['axes.facecolor'], plt.rcParams['axes.unicode_minus'])",
                      timeout=30)
        # seaborn imported for real and its default theme (darkgrid: axes face #EAEAF2) set; ASCII minus
        assert r.stdout.split() == ["module", "#EAEAF2", "False"]
        r = s.execute(prepare_code("sns.set_theme(style='white')\nprint(plt.rcParams['font.sans-serif'][0])"),
                      timeout=30)
        # set_theme resets the font; the published harness put the CJK font back right after it
        font = find_cjk_font()
        assert r.stdout.strip() == (font if font else r.stdout.strip())
        r = s.execute("input('x')", timeout=30)
        assert r.error is not None and "input() function is disabled" in r.error.evalue
    assert EpisodeRules().preamble == "published"


def test_prepare_code_puts_the_font_after_set_theme():
    code = prepare_code("import seaborn as sns\nsns.set_theme(style='dark')\nx = 1")
    lines = code.split("\n")
    assert lines[1] == "sns.set_theme(style='dark')" and lines[2].startswith("plt.rcParams['font.sans-serif']")
    assert lines[3] == "plt.rcParams['axes.unicode_minus'] = False" and lines[4] == "x = 1"
