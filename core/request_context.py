"""The request a line of code runs for: its id (for log lines) and the GraphQL root field
it asked for (for metrics). Set by the engine's middleware, read by logging and metrics."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestInfo:
    id: str
    # The first root field of the GraphQL operation: bounded by the schema, unlike the
    # operation name a client picks, so it can label metrics.
    operation: str | None = None


CURRENT: ContextVar[RequestInfo | None] = ContextVar("gamify_request", default=None)


def current_request_id() -> str | None:
    info = CURRENT.get()
    return info.id if info is not None else None


def name_operation(root_field: str) -> None:
    """Record the root field of the operation the current request runs, if any request."""
    info = CURRENT.get()
    if info is not None:
        info.operation = root_field
