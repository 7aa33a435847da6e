"""GGUF files on the transformers backend: loaded dequantized, and optionally converted once to safetensors.

transformers reads a `.gguf` file with `from_pretrained(folder, gguf_file=name)`: it dequantizes the tensors
one at a time into the target dtype (so a bf16 load never holds a whole float32 copy), and builds the tokenizer
and chat template from the file's metadata. That takes ~30-40 s for a 0.5B model on two CPU cores, every load.

With a cache folder, the first load also saves the converted checkpoint (config, safetensors weights in the
target dtype, tokenizer with its chat template) under `<cache>/<stem>-<size>-<mtime>-<dtype>/`, and later loads
read that folder as a plain checkpoint (~5 s). The key holds the file's size and modification time (cheap; no
hash of a multi-GB file at each start) and the dtype: a replaced file gets a new folder. Old folders are not
removed; delete them to reclaim the disk (the weights in bf16 take about 2.5x the Q4 file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from qwen_agent.errors import ConfigurationError, MissingDependencyError
from qwen_agent.llm.local.local_setup import package_installed

logger = logging.getLogger(__name__)

COMPLETE_MARKER = ".complete"


def require_gguf() -> None:
    """MissingDependencyError unless the `gguf` package (transformers' GGUF reader) is installed."""
    if not package_installed("gguf"):
        raise MissingDependencyError("gguf", "local", "Loading a .gguf file")


def converted_dir(cache_root: Path, gguf_path: Path, dtype: str) -> Path:
    """Where the conversion of `gguf_path` to `dtype` is kept: keyed by the file's size and mtime."""
    stat = gguf_path.stat()
    return Path(cache_root) / f"{gguf_path.stem}-{stat.st_size}-{stat.st_mtime_ns}-{dtype}"


def load_gguf_model(transformers: Any, gguf_path: Path, dtype: Any, **kwargs: Any) -> Any:
    """The model of a GGUF file, dequantized straight into `dtype` (tensor by tensor)."""
    require_gguf()
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=dtype, **dequantized(transformers), **kwargs
        )
    except (OSError, ValueError, KeyError) as e:
        raise ConfigurationError(f"could not load the GGUF file {str(gguf_path)!r}: {e}") from e


def dequantized(transformers: Any) -> dict[str, Any]:
    """`from_pretrained` arguments that ask for a plain dense model from a GGUF file. transformers 5.x can
    keep GGUF blocks packed for some architectures (with the `kernels` package), warns when it cannot, and
    then dequantizes anyway; asking for it up front loads the same model without the misleading warning."""
    config = getattr(transformers, "GgufConfig", None)  # transformers 5.x
    return {"quantization_config": config(dequantize=True)} if config is not None else {}


def load_gguf_tokenizer(transformers: Any, gguf_path: Path) -> Any:
    """The tokenizer (and chat template) stored in a GGUF file's metadata."""
    require_gguf()
    try:
        return transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    except (OSError, ValueError, KeyError) as e:
        raise ConfigurationError(f"could not read the tokenizer of the GGUF file {str(gguf_path)!r}: {e}") from e


def convert_gguf(transformers: Any, gguf_path: Path, dtype: Any, dtype_name: str, cache_root: Path) -> Path:
    """Convert a GGUF file to a safetensors checkpoint in `dtype` under `cache_root` (once), and return its
    folder. Written to a temporary folder first and renamed, so a crash never leaves a half checkpoint that
    looks complete, and two processes converting at once both end with the same folder."""
    from safetensors.torch import save_model

    target = converted_dir(cache_root, gguf_path, dtype_name)
    if (target / COMPLETE_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s to %s safetensors under %s (once)", gguf_path, dtype_name, target)
    model = load_gguf_model(transformers, gguf_path, dtype)
    tokenizer = load_gguf_tokenizer(transformers, gguf_path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"))  # handles tied weights
        tokenizer.save_pretrained(tmp)
        (tmp / COMPLETE_MARKER).write_text(f"{gguf_path}\n", encoding="utf-8")
        del model
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _publish(tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target`, unless another process finished the same conversion first."""
    with contextlib.suppress(FileExistsError, OSError):
        if target.exists() and not (target / COMPLETE_MARKER).is_file():
            shutil.rmtree(target, ignore_errors=True)  # a folder left by an interrupted older version
        os.rename(tmp, target)
    if not (target / COMPLETE_MARKER).is_file():
        raise ConfigurationError(f"could not write the converted checkpoint to {target}")
