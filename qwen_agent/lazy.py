"""Import-by-name for the explicit tables of backends and built-in tools, so nothing heavy loads early."""

from __future__ import annotations

import importlib
from typing import Any

from qwen_agent.errors import ConfigurationError


def load_from_table(table: dict[str, str], name: str, kind: str) -> Any:
    """The object that `table[name]` ("module:attribute") names, imported now.

    Raises:
        ConfigurationError: `name` is not in the table.
    """
    try:
        target = table[name]
    except KeyError:
        raise ConfigurationError(f"unknown {kind} {name!r}; choose one of {sorted(table)}") from None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
