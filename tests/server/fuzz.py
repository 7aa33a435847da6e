"""Schema-driven fuzzing of a running HTTP app, as the field does it: schemathesis reads the app's own OpenAPI
document, hypothesis generates requests that fit it (and, in negative mode, requests that do not), and every
answer is checked: never a 5xx, only documented statuses and content types, bodies valid against the
documented schemas (for server-sent events, each event's JSON `data` against the `contentSchema` its
`data` declares), and no connection dropped without `Connection: close`.

A target is one `FuzzTarget`; to fuzz another app, add one line to `TARGETS` in test_fuzz.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@dataclass(frozen=True)
class FuzzTarget:
    """An app to fuzz.

    Args:
        name: test id.
        serve: a context manager factory; entering it starts the app and yields its root URL
            (http://127.0.0.1:PORT), leaving it stops the app.
        schema: where the app serves its OpenAPI document, or (for an app that serves none, such as a
            JSON-RPC endpoint) the document itself, or a function of the root URL that returns it (for a
            document naming state the running app made, such as a conversation id).
        headers: sent with every request (e.g. the API key).
    """

    name: str
    serve: Callable[[], AbstractContextManager[str]]
    schema: str | dict | Callable[[str], dict] = "/openapi.json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FuzzReport:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    closed: int = 0  # answers that said `Connection: close`, or event streams (the client closes those)
    connections: int = 0  # TCP connections the client opened

    def count(self, response: Response) -> None:
        self.requests += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        stream = _header(response, "content-type").startswith("text/event-stream")
        if stream or _header(response, "connection").lower() == "close":
            self.closed += 1


def _header(response: Response, name: str) -> str:
    return ",".join(response.headers.get(name, []))


def fuzz(root: str, target: FuzzTarget, *, examples: int, budget_s: float, explore: bool = False) -> FuzzReport:
    """Run `examples` generated requests per operation and mode against the app at `root`, stopping new
    requests after `budget_s` seconds. Raises on the first failed check (with a reproducible request).
    The same requests every run (a test must not flake), unless `explore` (for longer runs by hand)."""
    if callable(target.schema):
        schema = schemathesis.openapi.from_dict(target.schema(root))
    elif isinstance(target.schema, dict):
        schema = schemathesis.openapi.from_dict(target.schema)
    else:
        schema = schemathesis.openapi.from_url(root + target.schema)
    report = FuzzReport()
    deadline = time.monotonic() + budget_s
    with requests.Session() as session:
        for operation in _operations(schema):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run = _Run(root, target, session, report, schema.raw_schema, deadline, not explore)
                run.operation(operation, mode, examples)
        report.connections = sum(pool.num_connections for pool in _pools(session))
    return report


def _pools(session: requests.Session) -> Iterator[object]:
    for adapter in session.adapters.values():
        manager = getattr(adapter, "poolmanager", None)
        for key in list(manager.pools.keys()) if manager else []:
            pool = manager.pools.get(key)
            if pool is not None:
                yield pool


def _operations(schema: schemathesis.BaseSchema) -> Iterator[object]:
    for result in schema.get_all_operations():
        yield result.ok()


@dataclass
class _Run:
    root: str
    target: FuzzTarget
    session: requests.Session
    report: FuzzReport
    document: dict
    deadline: float
    derandomize: bool

    def operation(self, operation, mode: GenerationMode, examples: int) -> None:  # noqa: ANN001
        @settings(max_examples=examples, deadline=None, database=None, derandomize=self.derandomize,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case) -> None:  # noqa: ANN001
            if time.monotonic() > self.deadline:
                return
            response = case.call(base_url=self.root, session=self.session, headers=self.target.headers, timeout=30)
            self.report.count(response)
            case.validate_response(response, checks=CHECKS)
            self.check_event_payloads(operation, response)

        try:
            one()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # an operation without parameters, body or auth: no request of it can break its schema

    def check_event_payloads(self, operation, response: Response) -> None:  # noqa: ANN001
        """Validate each SSE event's JSON `data` against the `contentSchema` documented for it."""
        if not _header(response, "content-type").startswith("text/event-stream"):
            return
        documented = self.document["paths"][operation.path][operation.method.lower()]["responses"]
        media = documented[str(response.status_code)]["content"]["text/event-stream"]
        content_schema = media["schema"].get("properties", {}).get("data", {}).get("contentSchema")
        if content_schema is None:  # this app documents no schema for the events' data
            return
        validator = Draft202012Validator({"components": self.document["components"], **content_schema})
        text = response.content.decode("utf-8")
        events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        assert events and events[-1] == "[DONE]", text[-500:]
        for data in events[:-1]:
            validator.validate(json.loads(data))
