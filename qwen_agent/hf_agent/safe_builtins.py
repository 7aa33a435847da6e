"""The builtins the restricted evaluator lets code call, and the per-walk versions of those that need bounds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from qwen_agent.hf_agent.limits import Limits, bounded_range, check_render_size, numeric_sum


class _Walker(Protocol):
    limits: Limits

    def write(self, text: str) -> None: ...


def bind_builtin(fn: Callable[..., Any], walker: _Walker) -> Callable[..., Any]:
    """Builtins that need the walker's limits or its print buffer are built per walk."""
    if fn is print:
        return lambda *args, sep=" ", end="\n": _print(walker, args, sep, end)
    if fn is range:
        return lambda *args: bounded_range(walker.limits, *args)
    if fn in (str, repr):
        return lambda *args: _render(walker, fn, *args)
    if fn is sum:
        return numeric_sum
    return fn


def _print(walker: _Walker, args: tuple[Any, ...], sep: Any, end: Any) -> None:
    check_render_size([*args, sep, end], walker.limits)
    walker.write(str(sep).join(str(a) for a in args) + str(end))
    return None


def _render(walker: _Walker, fn: Callable[..., Any], *args: Any) -> Any:
    for arg in args:
        check_render_size(arg, walker.limits)
    return fn(*args)


#: builtins the code may call unless the caller passes its own set
SAFE_BUILTINS: dict[str, Callable[..., Any]] = {
    "print": print, "len": len, "str": str, "repr": repr, "int": int, "float": float, "bool": bool,
    "range": range, "list": list, "tuple": tuple, "dict": dict, "abs": abs, "min": min, "max": max, "sum": sum,
    "round": round, "sorted": sorted,
}
