"""Counters, gauges and histograms with labels, rendered in the Prometheus text exposition format (0.0.4).

Written here rather than taken from `prometheus_client`: the server needs a handful of metrics, each app its
own registry (`prometheus_client` keeps one per process, so two apps in one process, as in the tests, would
collide on names), and the format is a few lines of text. Updates are thread-safe: the model's worker thread
and the event loop both record.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: seconds; vLLM's time-to-first-token buckets, cut to what a CPU or one GPU sees
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                   240.0, 480.0)
TOOL_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Labels = tuple[str, ...]


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str], lock: threading.Lock) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = lock

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes the labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A total that only goes up (requests, tokens)."""

    kind = "counter"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` (not negative) to the series of `labels`."""
        if amount < 0:
            raise ValueError(f"{self.name} is a counter: it cannot go down by {amount}")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A value read when scraped (queue depth, running batch size): `read` returns {label values: value}."""

    kind = "gauge"

    def __init__(self, *args: object, read: Callable[[], dict[Labels, float]]) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.read = read

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in sorted(self.read().items())]


class Histogram(_Metric):
    """Observations counted into cumulative buckets (`le`), with their sum and count."""

    kind = "histogram"

    def __init__(self, *args: object, buckets: Sequence[float]) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.buckets = tuple(sorted(buckets))
        self._series: dict[Labels, list[float]] = {}  # bucket counts..., +Inf count, sum

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series[i] += 1
            series[-2] += 1
            series[-1] += value

    def count(self, **labels: str) -> int:
        series = self._series.get(self._key(labels))
        return int(series[-2]) if series else 0

    def sum(self, **labels: str) -> float:
        series = self._series.get(self._key(labels))
        return series[-1] if series else 0.0

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        lines = []
        for key, series in items:
            for bound, n in zip((*self.buckets, math.inf), series[:-1], strict=True):
                le = _labels((*self.labelnames, "le"), (*key, _number(bound)))
                lines.append(f"{self.name}_bucket{le} {_number(n)}")
            plain = _labels(self.labelnames, key)
            lines.append(f"{self.name}_sum{plain} {_number(series[-1])}")
            lines.append(f"{self.name}_count{plain} {_number(series[-2])}")
        return lines


class MetricsRegistry:
    """The metrics one `/metrics` page shows. Names must be unique (a second registration raises)."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labelnames, self._lock))

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str],
              read: Callable[[], dict[Labels, float]]) -> Gauge:
        return self._add(Gauge(name, help_text, labelnames, self._lock, read=read))

    def histogram(self, name: str, help_text: str, labelnames: Sequence[str], buckets: Sequence[float]) -> Histogram:
        return self._add(Histogram(name, help_text, labelnames, self._lock, buckets=buckets))

    def _add(self, metric: _Metric) -> _Metric:  # type: ignore[misc]
        if metric.name in self._metrics:
            raise ValueError(f"a metric named {metric.name!r} is already registered")
        self._metrics[metric.name] = metric
        return metric  # type: ignore[return-value]

    def render(self) -> str:
        """The exposition text of every metric (series with no samples yet show only HELP and TYPE)."""
        return render(self._metrics.values())


def render(metrics: Iterable[_Metric]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines += metric.header()
        lines += metric.samples()
    return "\n".join(lines) + "\n"


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape_value(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))
