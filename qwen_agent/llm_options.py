"""The command-line flags that choose a model, and the LLM they name: one set for `run`, `chat`, `serve`, `ui`
and the benchmarks.

| flag                                  | meaning                                              | default                       |
|---------------------------------------|------------------------------------------------------|-------------------------------|
| `--backend`                           | openai, transformers or scripted                     | $QWEN_AGENT_BACKEND; else     |
|                                       |                                                      | openai when a base URL is     |
|                                       |                                                      | given, else transformers      |
| `--model`                             | model name on the server, or checkpoint / .gguf /    | $QWEN_AGENT_MODEL; else       |
|                                       | hub name for transformers                            | Qwen2.5-7B-Instruct (openai); |
|                                       |                                                      | transformers needs one        |
| `--base-url`                          | the OpenAI-compatible server (openai)                | $QWEN_AGENT_BASE_URL, else    |
|                                       |                                                      | http://127.0.0.1:8000/v1      |
| `--api-key` (`--upstream-api-key`)    | the key sent to that server (openai)                 | $QWEN_AGENT_API_KEY,          |
|                                       |                                                      | $OPENAI_API_KEY, else EMPTY   |
| `--quantize`, `--dtype`, `--device`   | how a local checkpoint is loaded (transformers)      | auto, the backend's choices   |
| `--script`                            | JSON list of replies, cycled (scripted)              |                               |

`--api-key` is always the key this process sends to a model server; the key a server of ours demands from its
clients is `--require-key` (`qwen_agent.access`). A flag that does not apply to the chosen backend is an error,
not ignored: `serve --api-key K` meant "clients must send K" before the flags were unified, and silently
sending K upstream instead would leave that server open.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qwen_agent.errors import ConfigurationError
from qwen_agent.llm import LLM, ScriptedLLM
from qwen_agent.settings import DEFAULT_BASE_URL, DEFAULT_MODEL, Settings, quantize_for

BACKEND_NAMES = ("openai", "transformers", "scripted")


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the model-choosing flags (the table above) to `parser`, in a group of their own. `llm_from_args`
    reads them."""
    g = parser.add_argument_group("model")
    g.add_argument("--backend", choices=BACKEND_NAMES, default=None,
                   help="the model: another OpenAI-compatible server (openai), a local checkpoint (transformers), "
                   "or fixed replies for demos and load tests (scripted). Default: $QWEN_AGENT_BACKEND, else "
                   "openai when a base URL is given (--base-url or $QWEN_AGENT_BASE_URL), else transformers")
    g.add_argument("--model", default=None,
                   help="the model's name on the server (openai; default $QWEN_AGENT_MODEL, else "
                   f"{DEFAULT_MODEL}), or a checkpoint folder, .gguf file or hub name (transformers; "
                   "`qwen-agent fetch-model` prints the path of a small Qwen)")
    g.add_argument("--base-url", default=None,
                   help=f"OpenAI-compatible endpoint (default $QWEN_AGENT_BASE_URL, else {DEFAULT_BASE_URL})")
    g.add_argument("--api-key", "--upstream-api-key", dest="api_key", default=None,
                   help="the key sent to the --base-url server (default $QWEN_AGENT_API_KEY, else "
                   "$OPENAI_API_KEY, else EMPTY); not the key clients of `serve` must send: see --require-key")
    g.add_argument("--quantize", choices=["auto", "int8", "none"], default="auto",
                   help="--backend transformers: int8 weights (a quarter of float32's memory, faster CPU "
                   "decoding); auto (default): int8 on CPUs with native bf16, none elsewhere "
                   "(docs/local-backend.md)")
    g.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default=None,
                   help="--backend transformers: the weights' dtype (default: bf16 on GPUs and on CPUs that "
                   "compute it natively, else fp16 or fp32; the log says which and why)")
    g.add_argument("--device", default=None,
                   help="--backend transformers: cuda, cuda:1, cpu, mps (default: the GPU if there is one)")
    g.add_argument("--script", type=Path, default=None,
                   help="--backend scripted: a JSON list of replies, cycled")


def resolve_backend(args: argparse.Namespace, env: Settings | None = None) -> str:
    """The backend the flags choose (see the table above)."""
    env = Settings.from_env() if env is None else env
    if args.backend:
        return args.backend
    if env.named("backend"):
        return env.backend
    return "openai" if args.base_url or env.named("base_url") else "transformers"


def llm_from_args(args: argparse.Namespace) -> LLM:
    """The LLM the flags of `add_llm_arguments` name, after checking that each given flag applies to it.

    Raises:
        ConfigurationError: a missing --model or --script, a flag of another backend, an unreadable script.
    """
    env = Settings.from_env()
    backend = resolve_backend(args, env)
    if backend not in BACKEND_NAMES:  # from $QWEN_AGENT_BACKEND, which argparse did not check
        raise ConfigurationError(f"QWEN_AGENT_BACKEND={backend!r}: use one of {', '.join(BACKEND_NAMES)}")
    _check_flags_apply(args, backend)
    quantize_for(backend, args.quantize)  # an explicit --quantize int8 off the transformers backend is an error
    if backend == "scripted":
        return _scripted(args.script)
    model = args.model or (env.model if env.named("model") else None)
    if backend == "transformers" and not model:
        raise ConfigurationError(
            "--backend transformers needs --model: a checkpoint folder, a .gguf file, or a hub name; "
            "`qwen-agent fetch-model` downloads a small Qwen and prints its path "
            '(--model "$(qwen-agent fetch-model)"); for a model on a server, give --base-url URL')
    settings = env.model_copy(update={"backend": backend, "model": model or DEFAULT_MODEL,
                                      "base_url": args.base_url or env.base_url,
                                      "api_key": args.api_key or env.api_key})
    return settings.make_llm(quantize=args.quantize, dtype=args.dtype, device=args.device)


def _check_flags_apply(args: argparse.Namespace, backend: str) -> None:
    owners = {"base_url": "openai", "api_key": "openai", "dtype": "transformers", "device": "transformers",
              "script": "scripted"}
    for dest, owner in owners.items():
        if getattr(args, dest) is not None and owner != backend:
            flag = "--" + dest.replace("_", "-")
            hint = " (the key clients of a server of ours must send is --require-key)" if dest == "api_key" else ""
            raise ConfigurationError(f"{flag} applies to --backend {owner}, not {backend}{hint}")


def _scripted(script: Path | None) -> ScriptedLLM:
    if script is None:
        raise ConfigurationError("--backend scripted needs --script FILE (a JSON list of replies)")
    try:
        replies = json.loads(Path(script).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"--script {script}: cannot read a JSON list of replies ({e})") from e
    if not isinstance(replies, list) or not replies or not all(isinstance(r, str) for r in replies):
        raise ConfigurationError(f"{script} must hold a non-empty JSON list of strings")
    return ScriptedLLM(replies, cycle=True)
