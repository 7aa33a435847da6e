"""The bwrap command line: mount order decides what the kernel can see."""

from __future__ import annotations

from pathlib import Path

from qwen_agent.interpreter import SandboxConfig
from qwen_agent.interpreter.sandbox import _bwrap_args


def _mount_index(args: list[str], flag: str, dest: str) -> int:
    return next(i for i in range(len(args) - 2) if args[i] == flag and args[i + 2] == dest)


def test_paths_under_tmp_are_bound_after_the_private_tmp(tmp_path: Path) -> None:
    # A virtualenv or dataset under /tmp (a fresh clone in /tmp, CI) must not be hidden by the kernel's own /tmp.
    extra = "/tmp/some-venv-or-dataset"
    runtime = tmp_path / "runtime"
    args = _bwrap_args(SandboxConfig(extra_ro_paths=(extra,)), "python3", tmp_path / "work", runtime)
    private_tmp = _mount_index(args, "--bind", "/tmp")
    assert _mount_index(args, "--ro-bind", extra) > private_tmp
    assert _mount_index(args, "--bind", str(tmp_path / "work")) > private_tmp
    assert args.index("--remount-ro") > _mount_index(args, "--bind", str(tmp_path / "work"))
