"""Handing a mapped checkpoint's pages back to the kernel (qwen_agent.llm.local.file_pages), on real mappings."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")

from qwen_agent.llm.local.file_pages import CheckpointPages, file_backed_ranges  # noqa: E402

MAPS = """\
55d0c0000000-55d0c0021000 r--p 00000000 fd:01 1311 /usr/bin/python3.11
55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0040000000 r--p 00000000 fd:01 2048 /root/.cache/model.safetensors
7f0050000000-7f0051000000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
7f0060000000-7f0060001000 r--p 00000000 00:05 77 /memfd:x (deleted)
"""


def test_only_mappings_of_files_count():
    # the binary and the checkpoint; not the heap, the anonymous block, the stack; a memfd has a path too
    assert file_backed_ranges(MAPS) == [
        (0x55D0C0000000, 0x55D0C0021000), (0x7F0000000000, 0x7F0040000000), (0x7F0060000000, 0x7F0060001000)]


def _rss_file_kb() -> int:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("RssFile:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise(MADV_PAGEOUT) and /proc are Linux's")
def test_a_mapped_files_pages_leave_the_rss_and_its_data_stays(tmp_path):
    size = 32 << 20
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * (size // 256))
    mapped = torch.from_file(str(path), shared=False, size=size, dtype=torch.uint8)  # a private file mapping
    total = int(mapped.sum(dtype=torch.int64))  # reads every page
    assert total == sum(range(256)) * (size // 256)
    before = _rss_file_kb()
    advised = CheckpointPages().release(mapped)
    after = _rss_file_kb()
    assert advised >= size - 2 * 4096  # all whole pages inside the tensor
    assert before - after >= (size >> 10) * 3 // 4  # most of the 32 MB left the RSS
    assert int(mapped.sum(dtype=torch.int64)) == total  # read back from the file, unchanged


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the mappings are read from /proc")
def test_anonymous_memory_is_never_advised():
    tensor = torch.arange(1 << 20, dtype=torch.float32)
    assert CheckpointPages().release(tensor) == 0
    assert torch.equal(tensor, torch.arange(1 << 20, dtype=torch.float32))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise(MADV_PAGEOUT) and /proc are Linux's")
def test_quantizing_a_mapped_checkpoint_hands_its_pages_back(tiny_qwen2_dir, monkeypatch):
    """The tiny Qwen2 as transformers maps it from safetensors: quantizing reads its tied float32 head
    (151,851 x 64 x 4 bytes = 38.9 MB) and the small layers. Without handing pages back the RSS keeps those
    file pages; with it they go, and the embeddings read back from the file still hold the same values."""
    from transformers import AutoModelForCausalLM

    from qwen_agent.llm.local import quantize

    def file_pages_kept_by_quantizing() -> tuple[int, torch.Tensor]:
        model = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir, dtype=torch.float32)
        before = _rss_file_kb()
        quantize.quantize_model(model, "int8")
        kept = _rss_file_kb() - before
        rows = model.get_input_embeddings()(torch.tensor([0, 75_000, 151_850]))
        return kept, rows

    monkeypatch.setattr(quantize.CheckpointPages, "release", lambda self, tensor: 0)
    kept_without, rows_without = file_pages_kept_by_quantizing()
    monkeypatch.undo()
    kept_with, rows_with = file_pages_kept_by_quantizing()
    assert kept_without > 30 << 10  # KB: the head's pages stayed
    assert kept_with < 8 << 10
    assert torch.equal(rows_with, rows_without)


def test_without_proc_nothing_is_advised_and_nothing_breaks(monkeypatch, tmp_path):
    """A sandbox without /proc: quantizing still works, it just keeps the pages."""
    from qwen_agent.llm.local import file_pages

    def unreadable(self, *args, **kwargs):
        raise PermissionError("/proc/self/maps")

    monkeypatch.setattr(file_pages.Path, "read_text", unreadable)
    path = tmp_path / "w.bin"
    path.write_bytes(bytes(1 << 16))
    mapped = torch.from_file(str(path), shared=False, size=1 << 16, dtype=torch.uint8)
    assert file_pages.CheckpointPages().release(mapped) == 0
