"""Template rendering that fails loudly on a missing variable (no silent `{name}` left in a prompt)."""

from __future__ import annotations

import string
from typing import Any


def render(template: str, **variables: Any) -> str:
    """`template.format(**variables)`, but naming every missing variable and refusing unused ones."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    missing = fields - variables.keys()
    if missing:
        raise KeyError(f"prompt template needs {sorted(missing)}; got {sorted(variables)}")
    unused = variables.keys() - fields
    if unused:
        raise KeyError(f"prompt template has no field(s) {sorted(unused)}")
    return template.format(**variables)
