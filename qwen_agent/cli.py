"""`qwen-agent` / `python -m qwen_agent`: run an agent on a query, chat, or serve a model.

Settings come from the command line, then the environment (see `qwen_agent.settings`), then defaults; the
flags that choose the model are the same for every command (`qwen_agent.llm_options`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from qwen_agent.agent import Agent
from qwen_agent.errors import QwenAgentError
from qwen_agent.function_calling import TOOL_FORMATS
from qwen_agent.llm_options import add_llm_arguments, llm_from_args
from qwen_agent.schema import AgentResult, Message, Step
from qwen_agent.settings import Settings
from qwen_agent.telemetry.setup import configure_tracing
from qwen_agent.telemetry.timings import Timings
from qwen_agent.tools import BUILTIN_TOOLS, load_builtin


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_our_log()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    tracing = None
    try:
        tracing = configure_tracing(os.environ)
        return int(args.func(args) or 0)
    except QwenAgentError as e:
        print(f"qwen-agent: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if tracing is not None:
            tracing.shutdown()  # sends the spans still buffered


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
    fetch = sub.add_parser("fetch-model", help="download, verify and cache a small real Qwen; print its path")
    fetch.add_argument("--size", choices=["0.5b", "1.5b"], default="0.5b",
                       help="Qwen2.5-Coder-0.5B-Instruct (default, 491 MB) or -1.5B-Instruct (1.1 GB), Q4_K_M GGUF")
    fetch.set_defaults(func=_cmd_fetch_model)
    _add_server_command(sub)
    from qwen_agent.mcp_server.cli import add_mcp_server_command

    add_mcp_server_command(sub)
    _add_ui_command(sub)
    return parser


def _agent_options(p: argparse.ArgumentParser) -> None:
    add_llm_arguments(p)
    p.add_argument("--tool", action="append", default=[], choices=sorted(BUILTIN_TOOLS),
                   help="a built-in tool to enable (repeatable)")
    p.add_argument("--tool-format", choices=TOOL_FORMATS, default="auto",
                   help="how tools are shown to the model and its calls read (default auto: the model's own "
                   "format, from its chat template on the transformers backend; Hermes on the openai backend)")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the ReAct instructions")
    p.add_argument("--max-steps", type=int, default=8)
    p.add_argument("--tool-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="seconds each tool call may take before it is interrupted and reported as an error "
                   "(default 120)")
    p.add_argument("--system", default=None, help="system message")
    p.add_argument("--mcp-config", action="append", default=[], metavar="FILE",
                   help='tools from the MCP servers in FILE ({"mcpServers": {...}}, repeatable)')


def _build_agent(args: argparse.Namespace) -> Agent:
    tools: list = [load_builtin(name) for name in args.tool]
    if args.mcp_config:
        from qwen_agent.tools.mcp import MCPToolset, load_mcp_config

        tools.append(MCPToolset([c for path in args.mcp_config for c in load_mcp_config(path)]))
    lang = args.lang if args.tool_format == "react" else None
    return Agent(llm_from_args(args), tools, system=args.system, tool_format=args.tool_format, lang=lang, max_steps=args.max_steps, tool_timeout=args.tool_timeout)


def print_step(step: Step, out: TextIO = sys.stdout) -> None:
    """Show one agent event, whatever format the model wrote it in."""
    if step.kind == "turn" and step.message is not None and step.message.tool_calls:
        if step.message.reasoning_content:
            print(f"[thinking] {step.message.reasoning_content}", file=out)
        for call in step.message.tool_calls:
            print(f"-> {call.name}({call.arguments})", file=out)
    elif step.kind == "notice":
        print(f"[{step.reason}]", file=out)
    elif step.kind == "observation":
        print(f"<- {step.tool_call.name if step.tool_call else 'tool'}: {step.observation}", file=out)
    elif step.kind == "final":
        print(step.answer, file=out)
    elif step.kind == "stopped":
        print(f"[{step.reason}]\nPartial result: {step.answer}", file=out)
    out.flush()


class StepPrinter:
    """Shows an episode on `out` as it happens: the answer text as it streams (`text`), each step (`step`) on
    its own line. A final answer that was streamed is not printed again; a `repeat_avoided` notice follows the
    very turn it is about, so the text streamed before it stays the answer."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown = False  # the current turn's answer text was streamed
        self.open = False  # streamed text ends the last line: a step needs a line break first

    def text(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self.shown = self.open = True

    def step(self, step: Step) -> None:
        ends_answer = step.kind == "final" and self.shown
        if self.open:
            self.out.write("\n")
            self.open = False
        if not ends_answer:
            print_step(step, self.out)
        self.out.flush()
        answer_stays = step.kind == "turn" and not (step.message and step.message.tool_calls)
        if not (answer_stays or step.decision == "repeat_avoided"):
            self.shown = False  # what was streamed was not the answer (a call, an answer put back): it streams anew


def answer(agent: Agent, query: str, history: Sequence[Message] = (), out: TextIO = sys.stdout) -> AgentResult:
    """Run one query, streaming the answer text and showing each step on `out` as it happens."""
    printer = StepPrinter(out)
    return agent.run_result(query, history=history, on_text=printer.text, on_step=printer.step)


def _cmd_run(args: argparse.Namespace) -> int:
    with _build_agent(args) as agent:
        result = answer(agent, args.query)
    # on stderr, so stdout keeps only the episode for pipes
    print(f"[{Timings.from_steps(result.steps).summary()}]", file=sys.stderr)
    return 0 if result.finished else 3


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
            history = answer(agent, query, history).messages
    return 0


def _cmd_fetch_model(args: argparse.Namespace) -> int:
    from qwen_agent.model_fetch import MODELS_BY_SIZE, fetch_gguf

    spec = MODELS_BY_SIZE[args.size]
    print(f"fetching {spec.filename} ({spec.size / 1e6:.0f} MB) if not cached ...", file=sys.stderr)
    print(fetch_gguf(Settings.from_env().cache_dir / "models", spec))
    return 0


def _add_server_command(sub: argparse._SubParsersAction) -> None:
    from qwen_agent.server.cli import add_serve_command  # light: fastapi loads only when serving

    add_serve_command(sub)


def _add_ui_command(sub: argparse._SubParsersAction) -> None:
    from qwen_agent.ui.cli import add_ui_command  # cheap: the UI's web stack loads when the command runs

    add_ui_command(sub, _agent_options, _build_agent)


if __name__ == "__main__":
    raise SystemExit(main())
