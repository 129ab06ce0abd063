"""Latency of every HTTP request, labelled by route and, on /graphql, by root field."""

from __future__ import annotations

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from core.metrics import REQUEST_SECONDS
from core.request_context import CURRENT


def route_label(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        return "static"
    return str(getattr(route, "path", "unmatched"))


class RequestMetricsMiddleware:
    """Inside RequestIdMiddleware, whose RequestInfo the GraphQL schema names."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket lives for hours: no latency to speak of
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            info = CURRENT.get()
            operation = (info.operation if info else None) or ""
            REQUEST_SECONDS.labels(route_label(scope), operation).observe(
                time.perf_counter() - started
            )
