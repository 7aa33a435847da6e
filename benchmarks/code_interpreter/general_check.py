"""The published General-executability check, run in the sandbox instead of the harness's own process.

Qwen-Agent's `metrics/code_execution.py` `eval_code_execution_rate()` (lines ~110-150) `exec()`ed the first
Action Input's code, behind its `pre_load`, in the evaluating process itself, with no time limit for General,
and `pip install`ed whatever an ImportError named before trying again. Here the same program (built by
`rules.general_check_code`) runs as a plain `python` process (no IPython: `%matplotlib inline` and
`display(...)` fail, as they failed under `exec`) started from inside the case's sandboxed kernel, so it has the
kernel's confinement (no network, memory and process limits). Nothing is installed. Failures that the
original environment might have passed (a package it would have installed, a network it had) are classified
so the report can count them apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from qwen_agent.interpreter import KernelSession

# Runs in the kernel: copy the case's uploads into a folder named upload_file (so pre_load's chdir is skipped),
# run the program there as plain Python with a headless matplotlib, print one JSON line.
_DRIVER = """
import json as _j, os as _o, shutil as _s, subprocess as _p, sys as _y
_d = _o.path.abspath('upload_file_check')
_s.rmtree(_d, ignore_errors=True)
_o.makedirs(_o.path.join(_d, 'upload_file'))
for _f in {files!r}:
    _s.copy(_f, _o.path.join(_d, 'upload_file', _o.path.basename(_f)))
try:
    _r = _p.run([_y.executable, '-c', {code!r}], cwd=_o.path.join(_d, 'upload_file'), capture_output=True,
                text=True, timeout={timeout!r}, env={{**_o.environ, 'MPLBACKEND': 'Agg'}}, stdin=_p.DEVNULL)
    print(_j.dumps({{'rc': _r.returncode, 'stderr': _r.stderr[-4000:]}}))
except _p.TimeoutExpired:
    print(_j.dumps({{'rc': None, 'stderr': 'timeout'}}))
"""

_NETWORK_MARKS = ("ConnectionError", "URLError", "gaierror", "Network is unreachable", "Name or service not known",
                  "Temporary failure in name resolution", "Max retries exceeded", "ConnectionRefusedError")


@dataclass(frozen=True)
class GeneralCheck:
    """The verdict on one case: executable, and when not, why (`missing code`, `missing package`, `network`,
    `timeout`, `error`) with the error's last line."""

    executable: bool
    reason: str = ""
    detail: str = ""


def classify(stderr: str) -> str:
    """Why a program failed, from its stderr: a missing package, the network, or another error."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if last.startswith(("ModuleNotFoundError", "ImportError")):
        return "missing package"
    if any(mark in stderr for mark in _NETWORK_MARKS):
        return "network"
    return "error"


def run_general_check(session: KernelSession, program: str, files: Sequence[str], timeout: float) -> GeneralCheck:
    """Run `program` (from `rules.general_check_code`; '' = missing code) in a plain Python process inside
    `session`'s sandbox, the case's uploaded `files` (names in the session's work dir) beside it."""
    if not program:
        return GeneralCheck(False, "missing code")
    driver = _DRIVER.format(files=list(files), code=program, timeout=timeout)
    r = session.execute(driver, timeout=timeout + 30)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if r.status != "ok" or not lines:
        return GeneralCheck(False, "error", f"the check could not run: {r.status} {r.error.text if r.error else ''}")
    out = json.loads(lines[-1])
    if out["rc"] == 0:
        return GeneralCheck(True)
    if out["rc"] is None:
        return GeneralCheck(False, "timeout", f"no result after {timeout:g} s")
    last = out["stderr"].strip().splitlines()[-1] if out["stderr"].strip() else f"exit status {out['rc']}"
    return GeneralCheck(False, classify(out["stderr"]), last)
