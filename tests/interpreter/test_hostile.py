"""Hostile code against the sandbox: every case must stay contained, the host unharmed, the service serving.

Cases share one sandboxed session (restarted where a case damages it). Cases that could hurt the host
without the isolation they test (fork bombs, killing processes) run only where that isolation is in force.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qwen_agent.interpreter import KernelSession, SandboxConfig
from qwen_agent.interpreter import sandbox as sb

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

HOSTILE = SandboxConfig(memory_mb=2048, max_processes=48, max_file_mb=16, max_output_bytes=100_000,
                        interrupt_grace=1.0)
SECRET_ENV = "QWEN_AGENT_HOSTILE_SECRET"


@pytest.fixture(scope="module")
def box():
    os.environ[SECRET_ENV] = "do-not-leak"
    try:
        with KernelSession(sandbox=HOSTILE) as s:
            yield s
    finally:
        os.environ.pop(SECRET_ENV, None)


@pytest.fixture(autouse=True)
def host_unharmed(box: KernelSession):
    yield
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the host can still start processes
    r = box.execute("1 + 1", timeout=30)  # and the service keeps serving
    assert r.status == "ok" and r.result == "2", r.to_text()


def pid_isolated(box: KernelSession) -> bool:
    return box.level in ("bwrap", "namespaces")


def need(condition: bool, reason: str) -> None:
    if not condition:
        pytest.skip(reason)


def run(box: KernelSession, code: str, timeout: float = 20.0):
    start = time.monotonic()
    r = box.execute(code, timeout=timeout)
    assert time.monotonic() - start < timeout + 2.0
    return r


# --- processes ------------------------------------------------------------------------------------------------
def test_fork_bomb_is_capped(box: KernelSession):
    need(sb.contains_processes(box.level), "no process cap here (root without pids cgroup or pid namespace)")
    r = run(box, "import os\nwhile True:\n    os.fork()", timeout=5)
    assert r.status in ("error", "timeout", "died")
    if r.status == "error":
        assert r.error.ename in ("BlockingIOError", "OSError")
    box.restart()  # the bomb's children hold the process budget until the kernel goes


def test_thread_bomb_is_capped(box: KernelSession):
    need(sb.contains_processes(box.level), "no process cap here")
    r = run(box, "import threading, time\nts = []\nfor _ in range(5000):\n"
                 "    t = threading.Thread(target=time.sleep, args=(0.5,)); t.start(); ts.append(t)")
    assert r.status == "error" and r.error.ename == "RuntimeError"
    time.sleep(0.6)


def _host_survives(box: KernelSession, code: str) -> None:
    """Run `code` beside a host process the kernel's user could signal were it not isolated; it must live on,
    and the session must answer again (in a fresh kernel when the code killed its own)."""
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        run(box, code)  # the kernel may die of it, or be refused (kill(-1) finds no one to signal)
        assert bystander.poll() is None  # not killed
        assert run(box, "print(6 * 7)").stdout.strip() == "42"
    finally:
        bystander.kill()
        bystander.wait()


def test_kill_parent_does_not_reach_host(box: KernelSession):
    need(pid_isolated(box), "without a pid namespace the kernel's parent is the host process")
    _host_survives(box, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")


def test_kill_everything_stays_inside(box: KernelSession):
    need(pid_isolated(box), "kill(-1) without a pid namespace would hit the host")
    _host_survives(box, "import os, signal\nos.kill(-1, signal.SIGKILL)")


def test_host_pid_is_invisible(box: KernelSession):
    need(pid_isolated(box), "no pid namespace")
    r = run(box, f"import os\ntry:\n    os.kill({os.getpid()}, 0); print('visible')\n"
                 "except ProcessLookupError:\n    print('invisible')\n"
                 "print(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    lines = r.stdout.split()
    assert lines[0] == "invisible" and int(lines[1]) < 10


def test_daemon_dies_with_session(tmp_path: Path):
    need(sb.contains_processes(sb.resolve_level(HOSTILE)), "no pid namespace or cgroup to catch daemons")
    beat = tmp_path / "beat"
    code = ("import subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True:\\n"
            "    open(\"beat\", \"a\").write(\"x\"); time.sleep(0.1)'], start_new_session=True,\n"
            "                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    with KernelSession(work_dir=tmp_path, sandbox=HOSTILE) as s:
        assert s.execute(code).status == "ok"
        time.sleep(0.5)
    assert beat.exists()
    time.sleep(0.3)
    size = beat.stat().st_size
    time.sleep(0.8)
    assert beat.stat().st_size == size, "a daemon outlived its session"


def test_cpu_time_limit_kills_kernel():
    with KernelSession(sandbox=SandboxConfig(cpu_seconds=3)) as s:  # start-up uses ~0.5 s
        r = s.execute("while True:\n    pass", timeout=15)
        assert r.status == "died" and r.state_lost
        assert s.execute("1").result == "1"


# --- memory and output ----------------------------------------------------------------------------------------
def test_printing_100_mb_is_cut(box: KernelSession):
    r = run(box, "print('x' * 100_000_000)", timeout=30)
    assert len(r.stdout) <= HOSTILE.max_output_bytes and r.truncated_bytes > 0
    assert "output limit" in r.to_text()


def test_endless_printing_is_stopped(box: KernelSession):
    r = run(box, "while True:\n    print('y' * 1000)", timeout=30)
    assert r.error is not None and r.error.ename == "OutputLimitExceeded"
    assert len(r.stdout) <= HOSTILE.max_output_bytes


def test_memory_bomb_single_allocation(box: KernelSession):
    r = run(box, "x = bytearray(8 * 1024 ** 3)")
    assert r.status == "error" and r.error.ename == "MemoryError"


def test_memory_bomb_growing(box: KernelSession):
    r = run(box, "blocks = []\nwhile True:\n    blocks.append(b'x' * (64 * 1024 * 1024))")
    assert r.status in ("error", "died"), r.to_text()
    if r.status == "error":
        assert r.error.ename == "MemoryError"
        run(box, "del blocks")


def test_memory_bomb_in_subprocess(box: KernelSession):
    r = run(box, "import subprocess, sys\n"
                 "p = subprocess.run([sys.executable, '-c', 'x = bytearray(8 * 1024 ** 3)'], capture_output=True)\n"
                 "print(p.returncode, b'MemoryError' in p.stderr)")
    assert r.stdout.split() == ["1", "True"]


def test_open_files_are_capped(box: KernelSession):
    r = run(box, "fs = []\ntry:\n    while True:\n        fs.append(open('/dev/null'))\n"
                 "except OSError as e:\n    print(e.errno)\nfinally:\n    [f.close() for f in fs]\n    del fs")
    assert r.stdout.strip() == "24"  # EMFILE


def test_huge_file_is_refused(box: KernelSession):
    r = run(box, "try:\n    with open('big.bin', 'wb') as f:\n        f.write(b'0' * (32 * 1024 * 1024))\n"
                 "except OSError as e:\n    print(e.errno)")
    assert r.stdout.strip() == "27"  # EFBIG
    (box.work_dir / "big.bin").unlink()


def test_limits_cannot_be_raised(box: KernelSession):
    r = run(box, "import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n"
                 "    print('raised')\nexcept (ValueError, OSError) as e:\n    print('refused')")
    assert r.stdout.strip() == "refused"


# --- files ----------------------------------------------------------------------------------------------------
def test_writes_outside_work_dir_fail(box: KernelSession):
    need(box.level == "bwrap", "only bwrap gives the kernel a read-only view of the host")
    targets = ["/usr/evil", "/etc/evil", f"{sys.prefix}/evil", "/evil"]
    code = (f"import os\nfor t in {targets!r}:\n    try:\n        open(t, 'w').write('x'); print('WROTE', t)\n"
            "    except OSError:\n        print('denied')")
    r = run(box, code)
    assert r.stdout.split() == ["denied"] * len(targets)
    assert not any(os.path.exists(t) for t in targets)


def test_remount_does_not_make_system_writable(box: KernelSession):
    need(box.level == "bwrap", "only bwrap mounts the system read-only")
    # A nested user+mount namespace gives the code "root" there; the read-only binds stay locked.
    r = run(box, "import subprocess\ntry:\n"
                 "    p = subprocess.run(['unshare', '-rm', 'sh', '-c', 'mount -o remount,rw /usr && touch /usr/evil'],"
                 " capture_output=True)\n    print(p.returncode != 0)\n"
                 "except OSError:\n    print(True)\n"
                 "import os\nprint(os.path.exists('/usr/evil'))")
    assert r.stdout.split() == ["True", "False"]
    assert not os.path.exists("/usr/evil")


def test_private_tmp_does_not_touch_host_tmp(box: KernelSession):
    need(box.level == "bwrap", "only bwrap gives a private /tmp")
    name = f"/tmp/qwen-agent-hostile-{os.getpid()}"
    run(box, f"open({name!r}, 'w').write('x')")
    assert not os.path.exists(name)


def test_other_files_are_invisible(box: KernelSession):
    need(box.level == "bwrap", "only bwrap hides the host's files")
    secret_dir = Path(tempfile.mkdtemp(dir="/var/tmp"))
    secret = secret_dir / "secret.txt"
    secret.write_text("top secret")
    try:
        paths = [str(secret), "/work/shared", "/root/.ssh", "/home", "/etc/shadow"]
        r = run(box, f"import os\nprint([os.path.exists(p) for p in {paths!r}])")
        assert r.stdout.strip() == str([False] * len(paths))
    finally:
        secret.unlink()
        secret_dir.rmdir()


def test_host_environment_does_not_leak(box: KernelSession):
    r = run(box, f"import os\nprint({SECRET_ENV!r} in os.environ, 'OPENAI_API_KEY' in os.environ)")
    assert r.stdout.split() == ["False", "False"]


def test_planted_symlink_cannot_redirect_upload(box: KernelSession, tmp_path: Path):
    target = tmp_path / "host-target.txt"
    run(box, f"import os\nos.symlink({str(target)!r}, 'planted.csv')")
    src = tmp_path / "src.csv"
    src.write_text("data")
    assert box.upload(src, "planted.csv") == "planted.csv"
    assert not target.exists()
    assert (box.work_dir / "planted.csv").read_text() == "data"
    assert not (box.work_dir / "planted.csv").is_symlink()


def test_planted_symlinked_folder_is_refused(box: KernelSession, tmp_path: Path):
    from qwen_agent.errors import SandboxError

    run(box, f"import os\nos.symlink({str(tmp_path)!r}, 'linked_dir')")
    src = tmp_path.parent / f"{tmp_path.name}-src.csv"
    src.write_text("data")
    try:
        with pytest.raises(SandboxError, match="symlink"):
            box.upload(src, "linked_dir/x.csv")
    finally:
        src.unlink()
    assert list(tmp_path.iterdir()) == []


def test_planted_symlink_cannot_redirect_figures(box: KernelSession, tmp_path: Path):
    run(box, f"import os, shutil\nshutil.rmtree('figures', ignore_errors=True)\nos.symlink({str(tmp_path)!r}, 'figures')")
    r = run(box, "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    assert len(r.images) == 1 and r.images[0].parent == box.work_dir / "figures"
    assert not (box.work_dir / "figures").is_symlink()
    assert list(tmp_path.iterdir()) == []


# --- network --------------------------------------------------------------------------------------------------
def test_no_network(box: KernelSession):
    need(box.level in ("bwrap", "namespaces"), "no network namespace at this level")
    r = run(box, "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=3); print('connected')\n"
                 "except OSError:\n    print('blocked')\nprint([n for _, n in socket.if_nameindex()])")
    assert r.stdout.splitlines() == ["blocked", "['lo']"]
