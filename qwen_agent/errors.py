"""Exception tree, sorted by who can fix the problem.

What the *model* can fix (bad format, unknown tool, bad arguments, a tool that raised) never reaches the user
as an exception: the agent turns it into an observation. The classes below are for what the model cannot fix.
"""

from __future__ import annotations


class QwenAgentError(Exception):
    """Base class of every error raised by qwen_agent."""


class ConfigurationError(QwenAgentError):
    """Bad settings: an unknown backend name, a missing model, contradictory options."""


class MissingDependencyError(QwenAgentError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package. Install it with: pip install 'qwen_agent[{extra}]'"
        )
        self.package = package
        self.extra = extra


class ModelError(QwenAgentError):
    """The language model backend failed in a way retries did not cure."""


class ModelConnectionError(ModelError):
    """The model server could not be reached (down, refused, timed out)."""


class ContextLengthError(ModelError):
    """The prompt does not fit in the model's context window."""


class ToolError(QwenAgentError):
    """Base class of tool-related errors."""


class ToolDefinitionError(ToolError):
    """A tool was declared wrongly (no name, unsupported signature, bad schema)."""


class DuplicateToolError(ToolError):
    """Two tools with the same name were registered."""


class ToolNotFoundError(ToolError):
    """No tool of that name is registered. The agent reports this to the model as an observation."""


class ToolArgumentError(ToolError):
    """Arguments failed validation. The agent reports this to the model as an observation."""


class MCPServerError(ToolError):
    """An MCP server could not be started, crashed twice, or broke the protocol. The message names the server
    and, for a command, ends with the tail of its stderr. Inside an agent run it becomes the observation."""

    def __init__(self, message: str, server: str = "") -> None:
        super().__init__(message)
        self.server = server


class MCPToolError(ToolError):
    """An MCP tool reported an error (`isError`), or did not answer by its deadline. The agent shows the
    message to the model as the observation, so that it can act on it."""


class RunCancelled(QwenAgentError):
    """The run was stopped through its cancel token (`Agent.run_result(..., cancel=event)`)."""


class SandboxError(QwenAgentError):
    """The code sandbox itself failed (as opposed to the user's code failing)."""


class KernelStartError(SandboxError):
    """A Jupyter kernel could not be started."""
