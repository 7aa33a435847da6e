"""`qwen-agent serve`: the command-line entry of the OpenAI-compatible server.

`add_serve_command(subparsers)` registers the subcommand on the main parser (`qwen_agent.cli`); the parsed
namespace carries `func=run_serve`, which returns the exit status. Importing this module is cheap: fastapi,
uvicorn and the backends are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from qwen_agent.errors import ConfigurationError
from qwen_agent.function_calling import TOOL_FORMATS
from qwen_agent.settings import add_quantize_option


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `serve` to an argparse subparsers object and return its parser."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API (function calling included)",
        description="Serve a model over an OpenAI-compatible HTTP API: /v1/chat/completions (tools, "
        "tool_choice, streaming), /v1/completions and /v1/models.",
    )
    parser.add_argument("--backend", choices=["openai", "transformers", "scripted"], default="transformers",
                        help="the model behind the server: a local checkpoint (transformers), another "
                        "OpenAI-compatible server (openai), or fixed replies for demos and load tests (scripted)")
    parser.add_argument("--model", help="checkpoint path (transformers) or the upstream model name (openai)")
    parser.add_argument("--base-url", help="upstream server URL for --backend openai")
    parser.add_argument("--upstream-api-key", default=None, help="API key of the upstream server (openai)")
    parser.add_argument("--script", type=Path, help="JSON list of replies, cycled (--backend scripted)")
    parser.add_argument("--served-model-name", help="the model id clients use (default: the backend's name)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer <key>' from clients")
    parser.add_argument("--tool-format", choices=TOOL_FORMATS, default="auto",
                        help="how `tools` requests are shown to the model and its calls read (default auto: the "
                        "checkpoint's own format from its chat template; Hermes otherwise)")
    parser.add_argument("--lang", choices=["en", "zh"], default="en",
                        help="language of the ReAct instructions (--tool-format react)")
    parser.add_argument("--context-window", type=int, default=None,
                        help="reject prompts longer than this many tokens with context_length_exceeded")
    parser.add_argument("--max-request-bytes", type=_positive_int, default=None,
                        help="largest request body accepted; larger ones get 413 (default 8 MiB)")
    add_quantize_option(parser)
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(func=run_serve)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of bytes, not {text}")
    return value


def build_llm(args: argparse.Namespace) -> Any:
    """The backend the arguments describe."""
    from qwen_agent.llm import ScriptedLLM, get_llm

    if args.backend == "scripted":
        if args.script is None:
            raise ConfigurationError("--backend scripted needs --script FILE (a JSON list of replies)")
        try:
            replies = json.loads(Path(args.script).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"--script {args.script}: cannot read a JSON list of replies ({e})") from e
        if not isinstance(replies, list) or not replies or not all(isinstance(r, str) for r in replies):
            raise ConfigurationError(f"{args.script} must hold a non-empty JSON list of strings")
        return ScriptedLLM(replies, cycle=True)
    if not args.model:
        raise ConfigurationError(f"--backend {args.backend} needs --model")
    from qwen_agent.settings import Settings, quantize_for

    quantize = quantize_for(args.backend, getattr(args, "quantize", None))
    if args.backend == "openai":
        kwargs = {"model": args.model}
        if args.base_url:
            kwargs["base_url"] = args.base_url
        if args.upstream_api_key:
            kwargs["api_key"] = args.upstream_api_key
        return get_llm("openai", **kwargs)
    return get_llm("transformers", model=args.model, quantize=quantize, gguf_cache_dir=Settings.from_env().converted_dir)


def run_serve(args: argparse.Namespace) -> int:
    """Build the backend and serve it until interrupted. Returns the exit status."""
    from qwen_agent.server import create_app, serve
    from qwen_agent.server.request_limits import Limits

    llm = build_llm(args)
    limits = Limits(max_request_bytes=args.max_request_bytes) if args.max_request_bytes else Limits()
    try:
        lang = args.lang if args.tool_format == "react" else None
        app = create_app(llm, model_name=args.served_model_name or args.model or llm.model_name,
                         api_key=args.api_key, context_window=args.context_window, tool_format=args.tool_format,
                         lang=lang, limits=limits)
        serve(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        llm.close()
    return 0
