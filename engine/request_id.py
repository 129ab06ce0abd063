"""X-Request-ID: every HTTP request and WebSocket gets an id, the caller's when it sends a
valid one, that comes back on the response and is in every log line written for it."""

from __future__ import annotations

import logging
import re
from uuid import uuid4

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.request_context import CURRENT, RequestInfo

HEADER = b"x-request-id"
# Short and plain, so a caller's id cannot forge log lines or bloat them.
_VALID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
log = logging.getLogger("gamify.http")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's id if valid, else a new one."""
    for name, value in headers:
        if name.lower() == HEADER and _VALID.fullmatch(value):
            return value.decode("ascii")
    return uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info = RequestInfo(request_id(scope.get("headers", [])))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept"):
                started = True
                headers = [*message.get("headers", []), (HEADER, info.id.encode("ascii"))]
                message = {**message, "headers": headers}
            await send(message)

        token = CURRENT.set(info)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if scope["type"] != "http":
                raise
            # Handled here rather than by Starlette's outer error middleware, so that the
            # log line and the 500 carry the request id.
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not started:
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
        finally:
            CURRENT.reset(token)
