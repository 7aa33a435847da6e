"""KernelSession against real sandboxed Jupyter kernels: output, state, images, files, deadlines, crashes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from qwen_agent.errors import SandboxError
from qwen_agent.interpreter import KernelSession

from .conftest import alive, kernel_pid

pytestmark = pytest.mark.kernel


def test_stdout_stderr_in_order_and_last_value(session: KernelSession):
    r = session.execute("import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\n6 * 7")
    assert r.status == "ok"
    assert r.streams == [("stdout", "a\n"), ("stderr", "b\n"), ("stdout", "c\n")]
    assert r.result == "42"
    assert r.to_text() == "a\nb\nc\n42"


def test_state_persists_between_calls(session: KernelSession):
    assert session.execute("counter = 10").status == "ok"
    r = session.execute("counter += 1\ncounter")
    assert r.result == "11" and not r.state_lost


def test_error_has_clean_traceback(session: KernelSession):
    r = session.execute("def f():\n    return 1 / 0\nf()")
    assert r.status == "error"
    assert r.error.ename == "ZeroDivisionError"
    text = r.to_text()
    assert "\x1b[" not in text and "ZeroDivisionError" in text and "return 1 / 0" in text


def test_display_of_text_and_plot_show_makes_image_file(session: KernelSession):
    r = session.execute(
        "import matplotlib.pyplot as plt\nfrom IPython.display import display\n"
        "display('shown text')\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('销售额 趋势')\nplt.show()"
    )
    assert r.status == "ok", r.to_text()
    assert "'shown text'" in r.displays
    assert len(r.images) == 1
    png = r.images[0]
    assert png.parent.parent == session.work_dir and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![fig-1](figures/" in r.to_text()
    assert "missing from font" not in r.stderr  # the CJK font is found
    backend = session.execute("import matplotlib\nmatplotlib.get_backend()").result
    assert "inline" in backend  # Agg-based, no GUI


def test_upload_gives_relative_path_readable_by_code(session: KernelSession, tmp_path: Path):
    src = tmp_path / "data.csv"
    src.write_text("a,b\n1,2\n")
    rel = session.upload(src)
    assert rel == "data.csv"
    assert session.execute(f"open({rel!r}).read().splitlines()[1]").result == "'1,2'"
    assert session.upload(src, "sub/d.csv") == "sub/d.csv"
    assert (session.work_dir / "sub" / "d.csv").read_text() == "a,b\n1,2\n"


def test_upload_rejects_bad_input(session: KernelSession, tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        session.upload(tmp_path / "missing.csv")
    (tmp_path / "f").write_text("x")
    for bad in ("../escape", "/etc/x"):
        with pytest.raises(ValueError):
            session.upload(tmp_path / "f", bad)


def test_input_is_an_error_not_a_hang(session: KernelSession):
    r = session.execute("answer = input('name? ')", timeout=10)
    assert r.status == "error" and r.error.ename == "StdinNotImplementedError"


def test_execute_rejects_bad_arguments(session: KernelSession):
    with pytest.raises(ValueError):
        session.execute("1", timeout=0)
    with pytest.raises(TypeError):
        session.execute(b"1")  # type: ignore[arg-type]


def test_sessions_are_isolated(session: KernelSession):
    session.execute("secret_value = 123")
    if session.level == "bwrap":  # elsewhere /tmp is the host's
        session.execute("open('/tmp/left-by-first', 'w').write('x')")
    with KernelSession() as other:
        assert other.work_dir != session.work_dir
        r = other.execute("secret_value")
        assert r.status == "error" and r.error.ename == "NameError"
        if other.level == "bwrap":
            assert other.execute("import os\nos.path.exists('/tmp/left-by-first')").result == "False"
        other_dir = other.work_dir
    assert not other_dir.exists()  # a temporary work dir goes with its session
    with pytest.raises(SandboxError):
        other.execute("1")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "state_lost"),
    [
        ("while True:\n    pass", False),
        ("import time\ntime.sleep(1e9)", False),
        ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", True),
        ("import numpy as np\na = np.ones((6000, 6000))\nfor _ in range(1000):\n    a = a @ a", None),
    ],
    ids=["busy-loop", "sleep", "ignores-sigint", "numpy"],
)
def test_timeout_returns_in_time_and_session_stays_usable(session: KernelSession, code: str, state_lost):
    session.execute("kept = 'yes'")
    timeout = 1.5
    start = time.monotonic()
    r = session.execute(code, timeout=timeout)
    elapsed = time.monotonic() - start
    assert r.status == "timeout"
    assert elapsed < timeout + 2.0, elapsed
    if state_lost is not None:  # numpy may or may not return to Python in the grace period
        assert r.state_lost is state_lost
    assert ("restarted" in r.message) is r.state_lost
    after = session.execute("kept" if not r.state_lost else "1 + 1", timeout=30)
    assert after.status == "ok" and after.result == ("'yes'" if not r.state_lost else "2")


@pytest.mark.slow
@pytest.mark.parametrize(
    "code", ["import os\nos._exit(1)", "import ctypes\nctypes.string_at(0)"], ids=["os-exit", "segfault"]
)
def test_kernel_death_is_reported_and_next_call_gets_fresh_kernel(session: KernelSession, code: str):
    session.execute("before = 1")
    r = session.execute(code, timeout=20)
    assert r.status == "died" and r.state_lost and "died" in r.to_text()
    after = session.execute("'before' in dir()", timeout=30)
    assert after.status == "ok" and after.result == "False"


@pytest.mark.slow
def test_kernel_killed_from_outside(session: KernelSession):
    pid = kernel_pid(session)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    r = session.execute("print('hi')", timeout=30)
    assert r.status == "ok" and r.stdout == "hi\n"
    assert r.state_lost and "had died" in r.message
    # killed while running: the call itself reports the death
    pid = kernel_pid(session)
    import threading

    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    start = time.monotonic()
    r = session.execute("import time\ntime.sleep(30)", timeout=20)
    assert r.status == "died" and time.monotonic() - start < 5


@pytest.mark.parametrize("level", ["bwrap", "namespaces", "rlimits", "none"])
def test_every_available_level_runs_code(level: str):
    from qwen_agent.interpreter import SandboxConfig, available_levels

    if level not in available_levels():
        pytest.skip(f"sandbox level {level} is not available on this host")
    with KernelSession(sandbox=SandboxConfig(level=level)) as s:
        assert s.level == level and s.sandbox_description.startswith(level)
        r = s.execute("import os\nprint(os.getcwd())\nsorted(k for k in os.environ if 'SECRET' in k)")
        assert r.status == "ok", r.to_text()
        assert r.stdout.strip() == str(s.work_dir) and r.result == "[]"


def test_bad_settings_fail_clearly(tmp_path: Path):
    from qwen_agent.errors import ConfigurationError, KernelStartError
    from qwen_agent.interpreter import SandboxConfig

    with pytest.raises(SandboxError, match="not an existing directory"):
        KernelSession(work_dir=tmp_path / "missing")
    with pytest.raises(ConfigurationError, match="not an executable"):
        KernelSession(sandbox=SandboxConfig(python=str(tmp_path / "no-python")))
    bare_python = "/usr/bin/python3"
    if not os.path.exists(bare_python):
        pytest.skip("no system python to try")
    probe = __import__("subprocess").run([bare_python, "-c", "import ipykernel"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system python has ipykernel; no python without it to try")
    session = KernelSession(sandbox=SandboxConfig(python=bare_python, startup_timeout=20))
    with pytest.raises(KernelStartError, match="ipykernel"):
        session.start()
    session.close()


def test_close_from_another_thread_stops_a_running_call():
    import threading

    s = KernelSession().start()
    pid = kernel_pid(s)
    closer = threading.Timer(0.5, s.close)
    closer.start()
    start = time.monotonic()
    r = s.execute("import time\ntime.sleep(60)", timeout=60)
    assert r.status == "died" and time.monotonic() - start < 5
    closer.join(10)  # close() has returned in its thread: awaited, not assumed after a fixed pause
    assert not closer.is_alive()
    assert not alive(pid) and s._kernel is None and not s.work_dir.exists()
