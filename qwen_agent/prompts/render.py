"""Template rendering that fails loudly on a missing variable (no silent `{name}` left in a prompt)."""

from __future__ import annotations

import string
from collections.abc import Collection
from typing import Any


def check_variables(fields: set[str], variables: Collection[str], what: str = "prompt template") -> None:
    """Raise KeyError naming the fields without a value and the values without a field."""
    missing = fields - set(variables)
    if missing:
        raise KeyError(f"{what} needs {sorted(missing)}; got {sorted(variables)}")
    unused = set(variables) - fields
    if unused:
        raise KeyError(f"{what} has no field(s) {sorted(unused)}")


def render(template: str, **variables: Any) -> str:
    """`template.format(**variables)`, but naming every missing variable and refusing unused ones."""
    check_variables({name for _, name, _, _ in string.Formatter().parse(template) if name}, variables)
    return template.format(**variables)
