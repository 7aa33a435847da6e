"""KernelSession.interrupt / CodeInterpreter.interrupt: Ctrl-C from another thread, variables kept."""

from __future__ import annotations

import threading
import time

import pytest

from qwen_agent.tools.code_interpreter import CodeInterpreter

pytestmark = pytest.mark.kernel


def test_interrupt_stops_running_code_and_keeps_variables() -> None:
    with CodeInterpreter(timeout=60) as ci:
        assert ci.interrupt() is False  # no session yet: nothing to interrupt
        assert ci.call('{"code": "x = 41"}') == "(no output)"
        assert ci.interrupt() is False  # nothing running: nothing sent, so the next code is not cut short
        assert ci.call("import time\ntime.sleep(1)\nprint('slept')") == "slept"
        results: list[str] = []
        worker = threading.Thread(target=lambda: results.append(ci.call("import time\ntime.sleep(60)")))
        started = time.monotonic()
        worker.start()
        time.sleep(1.0)
        assert ci.interrupt() is True
        worker.join(20)
        assert time.monotonic() - started < 10
        assert "KeyboardInterrupt" in results[0]
        assert ci.call("print(x + 1)") == "42"
