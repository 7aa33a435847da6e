"""What the server's strict JSON check costs per request, against a plain `json.loads` of the same body.

    python -m benchmarks.request_limits [--repeat 5]

`check_json` (qwen_agent/server/request_limits.py) decodes strictly (UTF-8, no duplicate keys, no NaN) and walks the
result for nesting depth; the route then decodes the body once more. The baseline is `json.loads` alone,
timed in the same run on the same bodies; the ratio is the cost of the check relative to one decode.
"""

from __future__ import annotations

import argparse
import json
import timeit

from qwen_agent.server.request_limits import check_json

_TOOL = {"type": "function", "function": {"name": "t", "parameters": {"type": "object",
                                                                      "properties": {"a": {"type": "string"}}}}}


def bodies() -> dict[str, bytes]:
    """Request bodies of three shapes: a typical chat request, one huge string, many small messages."""
    typical = {"model": "m", "messages": [{"role": "user", "content": "hello world " * 80}] * 10,
               "tools": [_TOOL] * 5}
    return {
        "typical chat (10 messages, 5 tools)": json.dumps(typical).encode(),
        "one 7.9 MB message": json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 7_900_000}]})
        .encode(),
        "10,000 one-word messages": json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}] * 10_000})
        .encode(),
    }


def best_ms(fn, body: bytes, repeat: int) -> float:  # noqa: ANN001
    number = max(1, 2_000_000 // max(len(body), 1))
    return min(timeit.repeat(lambda: fn(body), number=number, repeat=repeat)) / number * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats; the best is kept")
    args = parser.parse_args(argv)
    print(f"{'body':40} {'bytes':>10} {'json.loads ms':>14} {'check_json ms':>14} {'ratio':>6}")
    for name, body in bodies().items():
        plain = best_ms(json.loads, body, args.repeat)
        checked = best_ms(lambda b: check_json(b, 64), body, args.repeat)
        print(f"{name:40} {len(body):>10,} {plain:>14.3f} {checked:>14.3f} {checked / plain:>6.1f}")


if __name__ == "__main__":
    main()
