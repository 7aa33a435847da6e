"""`qwen-agent` / `python -m qwen_agent`: run an agent on a query, chat, or serve a model.

Settings come from the command line, then the environment (see `qwen_agent.settings`), then defaults.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from qwen_agent.agent import Agent
from qwen_agent.errors import QwenAgentError
from qwen_agent.schema import Message, Step
from qwen_agent.settings import Settings
from qwen_agent.tools import BUILTIN_TOOLS, load_builtin


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_our_log()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except QwenAgentError as e:
        print(f"qwen-agent: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _show_our_log() -> None:
    """Print the package's INFO lines (which model loaded, on what device, in which dtype and why) on
    stderr; other libraries keep their own levels."""
    log = logging.getLogger("qwen_agent")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[qwen-agent] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record (it may be replaced after set-up)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen-agent", description="Tool use for Qwen chat models.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="answer one query, printing each step")
    run.add_argument("query")
    _agent_options(run)
    run.set_defaults(func=_cmd_run)
    chat = sub.add_parser("chat", help="an interactive multi-turn session (empty line or Ctrl-D ends it)")
    _agent_options(chat)
    chat.set_defaults(func=_cmd_chat)
    fetch = sub.add_parser("fetch-model", help="download, verify and cache the small real Qwen; print its path")
    fetch.set_defaults(func=_cmd_fetch_model)
    _add_server_command(sub)
    from qwen_agent.mcp_server.cli import add_mcp_server_command

    add_mcp_server_command(sub)
    return parser


def _agent_options(p: argparse.ArgumentParser) -> None:
    env = Settings.from_env()
    p.add_argument("--backend", default=env.backend, help=f"openai or transformers (default: {env.backend})")
    p.add_argument("--base-url", default=env.base_url, help=f"OpenAI-compatible endpoint (default: {env.base_url})")
    p.add_argument("--model", default=env.model, help=f"model name or checkpoint (default: {env.model})")
    p.add_argument("--api-key", default=env.api_key, help="API key (default: $QWEN_AGENT_API_KEY)")
    p.add_argument("--tool", action="append", default=[], choices=sorted(BUILTIN_TOOLS),
                   help="a built-in tool to enable (repeatable)")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the ReAct instructions")
    add_quantize_option(p)
    p.add_argument("--max-steps", type=int, default=8)
    p.add_argument("--system", default=None, help="system message")
    p.add_argument("--mcp-config", action="append", default=[], metavar="FILE",
                   help='tools from the MCP servers in FILE ({"mcpServers": {...}}, repeatable)')


def add_quantize_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="transformers backend: int8 weights (torchao); saves memory on a GPU, slower than bf16 on a CPU (docs/local-backend.md)")


def _build_agent(args: argparse.Namespace) -> Agent:
    settings = Settings(backend=args.backend, base_url=args.base_url, model=args.model, api_key=args.api_key)
    tools: list = [load_builtin(name) for name in args.tool]
    if args.mcp_config:
        from qwen_agent.tools.mcp import MCPToolset, load_mcp_config

        tools.append(MCPToolset([c for path in args.mcp_config for c in load_mcp_config(path)]))
    return Agent(settings.make_llm(quantize=args.quantize), tools, system=args.system, lang=args.lang, max_steps=args.max_steps)


def print_step(step: Step, out: TextIO = sys.stdout) -> None:
    """Show one agent event the way the ReAct transcript reads."""
    if step.kind == "action" and step.tool_call is not None:
        if step.thought:
            print(f"Thought: {step.thought}", file=out)
        print(f"Action: {step.tool_call.name}\nAction Input: {step.tool_call.arguments}", file=out)
    elif step.kind == "observation":
        print(f"Observation: {step.observation}", file=out)
    elif step.kind == "final":
        print(f"Final Answer: {step.answer}", file=out)
    elif step.kind == "stopped":
        print(f"[{step.reason}]\nPartial result: {step.answer}", file=out)
    out.flush()


def _cmd_run(args: argparse.Namespace) -> int:
    with _build_agent(args) as agent:
        last = None
        for step in agent.run_stream(args.query):
            print_step(step)
            last = step
    return 0 if last is not None and last.kind == "final" else 3


def _cmd_chat(args: argparse.Namespace) -> int:
    history: list[Message] = []
    with _build_agent(args) as agent:
        while True:
            try:
                query = input("You: ").strip()
            except EOFError:
                break
            if not query:
                break
            result = agent.run_result(query, history=history)
            for step in result.steps:
                print_step(step)
            history = result.messages
    return 0


def _cmd_fetch_model(args: argparse.Namespace) -> int:
    from qwen_agent.model_fetch import SMALL_QWEN, fetch_gguf

    print(f"fetching {SMALL_QWEN.filename} ({SMALL_QWEN.size / 1e6:.0f} MB) if not cached ...", file=sys.stderr)
    print(fetch_gguf(Settings.from_env().cache_dir / "models"))
    return 0


def _add_server_command(sub: argparse._SubParsersAction) -> None:
    try:
        from qwen_agent.server.cli import add_serve_command
    except ImportError:  # the server package is optional
        return
    add_serve_command(sub)


if __name__ == "__main__":
    raise SystemExit(main())
