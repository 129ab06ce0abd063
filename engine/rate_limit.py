"""The request rate limit: per client address and per credential, counted in Redis.

Every HTTP request but the probes (`/health`, `/ready`, `/metrics`) counts once against its
client address and, when it carries one (`Authorization` or `apikey` header), once against
its credential. Answers carry the standard headers of the tightest of the two
(`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, seconds); past a limit the
answer is 429 with `Retry-After` and the error code RATE_LIMITED, in the shape of the
endpoint (GraphQL `errors`, REST `error`).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.rate_limit import Count, Counters, Limit, key_part, tightest

UNCOUNTED = frozenset({"/health", "/ready", "/metrics"})


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        counters: Counters,
        per_address: int,
        per_credential: int,
        window: int,
    ) -> None:
        self.app = app
        self.counters = counters
        self.per_address, self.per_credential, self.window = per_address, per_credential, window

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNCOUNTED:
            await self.app(scope, receive, send)
            return
        counts = await self.counters.hit(self._limits(scope))
        if not counts:
            await self.app(scope, receive, send)
            return
        shown = tightest(counts)
        headers = _headers(shown)
        if shown.exceeded:
            await _refuse(scope, send, shown, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _limits(self, scope: Scope) -> list[Limit]:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        limits = [Limit(f"address:{address}", self.per_address, self.window)]
        credential = _credential(scope.get("headers", []))
        if credential is not None:
            limits.append(
                Limit(f"credential:{key_part(credential)}", self.per_credential, self.window)
            )
        return limits


def _credential(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() in (b"authorization", b"apikey") and value.strip():
            # The credential, not the scheme: "Bearer gk_x" and an apikey "gk_x" are one key.
            return value.decode("latin-1").strip().split(" ")[-1]
    return None


def _headers(count: Count) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(count.limit).encode()),
        (b"ratelimit-remaining", str(count.remaining).encode()),
        (b"ratelimit-reset", str(count.reset).encode()),
    ]


async def _refuse(
    scope: Scope, send: Send, count: Count, headers: list[tuple[bytes, bytes]]
) -> None:
    message = f"Too many requests: retry in {count.reset} s"
    error = {"code": "RATE_LIMITED", "message": message}
    body: dict[str, object]
    if scope["path"].rstrip("/") == "/graphql":
        body = {
            "data": None,
            "errors": [
                {
                    "message": message,
                    "extensions": {"code": "RATE_LIMITED", "retryAfter": count.reset},
                }
            ],
        }
    else:
        body = {"error": error}
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(count.reset).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
