"""The one place that reads environment variables (and says what the CLI's `--quantize` values mean).

These defaults are those of the library (`Agent()` without a model). The command-line flags that choose a model
take these variables as their defaults and infer the backend when none is named (`qwen_agent.llm_options`).

| variable                | meaning                                               | default                      |
|-------------------------|-------------------------------------------------------|------------------------------|
| QWEN_AGENT_BACKEND      | "openai" or "transformers"                            | openai                       |
| QWEN_AGENT_BASE_URL     | OpenAI-compatible endpoint (vLLM, SGLang, Ollama ...) | http://127.0.0.1:8000/v1     |
| QWEN_AGENT_MODEL        | model name on the server, or checkpoint path / hub id | Qwen2.5-7B-Instruct          |
| QWEN_AGENT_API_KEY      | API key for the server (falls back to OPENAI_API_KEY) | "EMPTY"                      |
| QWEN_AGENT_CACHE        | where fetched models are kept (else XDG_CACHE_HOME)   | ~/.cache/qwen_agent          |
| QWEN_AGENT_DATA         | where `qwen-agent ui` keeps conversations (else       | ~/.local/share/qwen_agent    |
|                         | XDG_DATA_HOME)                                        |                              |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from qwen_agent.errors import ConfigurationError
from qwen_agent.llm import LLM, get_llm

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_MODEL = "Qwen2.5-7B-Instruct"


class Settings(BaseModel):
    """Which model to use when the code does not say."""

    model_config = ConfigDict(frozen=True)

    backend: str = "openai"
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str = "EMPTY"
    cache_dir: Path = Path.home() / ".cache" / "qwen_agent"
    data_dir: Path = Path.home() / ".local" / "share" / "qwen_agent"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        named = {"backend": env.get("QWEN_AGENT_BACKEND"), "base_url": env.get("QWEN_AGENT_BASE_URL"),
                 "model": env.get("QWEN_AGENT_MODEL"),
                 "api_key": env.get("QWEN_AGENT_API_KEY") or env.get("OPENAI_API_KEY")}
        # only what the environment names is passed, so `named()` can tell it from a default
        return cls(**{k: v for k, v in named.items() if v}, cache_dir=_cache_dir(env), data_dir=_data_dir(env))

    def named(self, field: str) -> bool:
        """Whether `field` was given (by the environment, for `from_env`) rather than left at its default."""
        return field in self.model_fields_set

    def make_llm(self, quantize: str | None = None, *, dtype: str | None = None, device: str | None = None) -> LLM:
        """The backend these settings name. `quantize` (a `--quantize` value: "auto", "int8", "none"), `dtype` and
        `device` apply to the transformers backend; a `.gguf` model's conversion is cached under
        `cache_dir / "converted"`."""
        quantize = quantize_for(self.backend, quantize)
        if self.backend == "openai":
            return get_llm("openai", model=self.model, base_url=self.base_url, api_key=self.api_key)
        if self.backend == "transformers":
            local = {k: v for k, v in (("dtype", dtype), ("device", device)) if v is not None}
            return get_llm(self.backend, model=self.model, quantize=quantize, gguf_cache_dir=self.converted_dir,
                           **local)
        return get_llm(self.backend, model=self.model)

    @property
    def converted_dir(self) -> Path:
        """Where GGUF files converted to safetensors are kept."""
        return self.cache_dir / "converted"


def _cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("QWEN_AGENT_CACHE"):
        return Path(env["QWEN_AGENT_CACHE"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "qwen_agent"
    return Path.home() / ".cache" / "qwen_agent"


def _data_dir(env: Mapping[str, str]) -> Path:
    if env.get("QWEN_AGENT_DATA"):
        return Path(env["QWEN_AGENT_DATA"])
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]) / "qwen_agent"
    return Path.home() / ".local" / "share" / "qwen_agent"


def quantize_for(backend: str, flag: str | None) -> str | None:
    """The transformers backend's `quantize` for a `--quantize` value: "none" is None; "auto" (the CLI's
    default) means nothing for other backends, an explicit "int8" there is a mistake worth saying."""
    if flag in (None, "none") or (flag == "auto" and backend != "transformers"):
        return None
    if backend != "transformers":
        raise ConfigurationError(f"--quantize {flag} applies to --backend transformers, not {backend}")
    return flag
