"""Where an episode's time and tokens went, read from its steps (`turn` steps carry the model's usage and
seconds, `observation` steps the seconds in the tool): what `qwen-agent run` prints when an episode ends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qwen_agent.schema import Step


@dataclass(frozen=True)
class Timings:
    """Totals of one episode. Tool seconds add up every call, so parallel calls can exceed the wall time."""

    turns: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    tool_calls: int = 0
    tool_errors: int = 0
    tool_seconds: float = 0.0

    @classmethod
    def from_steps(cls, steps: Iterable[Step]) -> Timings:
        turns = prompt = cached = completion = calls = errors = 0
        model = tools = 0.0
        for step in steps:
            seconds = step.seconds or 0.0
            if step.kind == "turn":
                usage = step.usage
                turns += 1
                model += seconds
                if usage is not None:
                    prompt += usage.prompt_tokens
                    cached += usage.cached_tokens
                    completion += usage.completion_tokens
            elif step.kind == "observation":
                calls += 1
                errors += step.is_error
                tools += seconds
        return cls(turns, prompt, cached, completion, model, calls, errors, tools)

    def summary(self) -> str:
        """One line, e.g. `2 model turns: 1,210 prompt tokens (1,024 cached), 57 generated, 3.41 s | 2 tool
        calls (1 failed): 0.40 s`."""
        cached = f" ({self.cached_tokens:,} cached)" if self.cached_tokens else ""
        turns = "model turn" if self.turns == 1 else "model turns"
        line = (f"{self.turns} {turns}: {self.prompt_tokens:,} prompt tokens{cached}, "
                f"{self.completion_tokens:,} generated, {self.model_seconds:.2f} s")
        if self.tool_calls:
            failed = f" ({self.tool_errors} failed)" if self.tool_errors else ""
            calls = "tool call" if self.tool_calls == 1 else "tool calls"
            line += f" | {self.tool_calls} {calls}{failed}: {self.tool_seconds:.2f} s"
        return line
