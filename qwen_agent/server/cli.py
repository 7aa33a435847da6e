"""`qwen-agent serve`: the command-line entry of the OpenAI-compatible server.

`add_serve_command(subparsers)` registers the subcommand on the main parser (`qwen_agent.cli`); the parsed
namespace carries `func=run_serve`, which returns the exit status. Importing this module is cheap: fastapi,
uvicorn and the backends are imported only when the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from qwen_agent.access import add_require_key_argument
from qwen_agent.function_calling import TOOL_FORMATS
from qwen_agent.llm_options import add_llm_arguments, llm_from_args


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `serve` to an argparse subparsers object and return its parser."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API (function calling included)",
        description="Serve a model over an OpenAI-compatible HTTP API: /v1/chat/completions (tools, "
        "tool_choice, streaming), /v1/completions and /v1/models.",
    )
    add_llm_arguments(parser)
    parser.add_argument("--served-model-name", help="the model id clients use (default: the backend's name)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, loopback only; beyond it, set --require-key)")
    parser.add_argument("--port", type=int, default=8000)
    add_require_key_argument(parser, what="'Authorization: Bearer <key>'")
    parser.add_argument("--tool-format", choices=TOOL_FORMATS, default="auto",
                        help="how `tools` requests are shown to the model and its calls read (default auto: the "
                        "checkpoint's own format from its chat template; Hermes otherwise)")
    parser.add_argument("--lang", choices=["en", "zh"], default="en",
                        help="language of the ReAct instructions (--tool-format react)")
    parser.add_argument("--context-window", type=int, default=None,
                        help="reject prompts longer than this many tokens with context_length_exceeded")
    parser.add_argument("--max-request-bytes", type=_positive_int, default=None,
                        help="largest request body accepted; larger ones get 413 (default 8 MiB)")
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(func=run_serve)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of bytes, not {text}")
    return value


def run_serve(args: argparse.Namespace) -> int:
    """Build the backend and serve it until interrupted. Returns the exit status."""
    from qwen_agent.server import create_app, serve
    from qwen_agent.server.request_limits import Limits

    llm = llm_from_args(args)
    limits = Limits(max_request_bytes=args.max_request_bytes) if args.max_request_bytes else Limits()
    try:
        lang = args.lang if args.tool_format == "react" else None
        app = create_app(llm, model_name=args.served_model_name or args.model or llm.model_name,
                         api_key=args.require_key, context_window=args.context_window, tool_format=args.tool_format,
                         lang=lang, limits=limits)
        serve(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        llm.close()
    return 0
