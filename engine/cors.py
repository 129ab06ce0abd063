"""Which browser pages may call the API, and the CORS answers that tell browsers so.

An origin is allowed when it is the engine's own, when the deployment lists it
(`GAMIFY_ALLOWED_ORIGINS`, also used for WebSockets), or when a tenant lists it
(`setAllowedOrigins`: the shop's domains, for the widget). A preflight carries no
credential, so it is answered for an origin any tenant lists; the request that follows is
then held to its caller's tenant (`OriginPolicy.check`): a member token works only from
its own tenant's origins.
"""

from __future__ import annotations

from uuid import UUID

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import Forbidden
from core.origins import parse_origin, request_origin
from models.tenancy.origins import allowed_by_any_tenant, allowed_by_tenant

# Paths a page on another origin may call; static files and /health need no CORS.
CORS_PATHS = ("/graphql", "/api/")
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-Request-ID"
EXPOSE_HEADERS = (
    "Retry-After, X-Request-ID, RateLimit, RateLimit-Policy, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)
PREFLIGHT_MAX_AGE = "600"  # seconds a browser may reuse a preflight answer


class OriginNotAllowed(Forbidden):
    code = "ORIGIN_NOT_ALLOWED"

    def __init__(self, origin: str):
        super().__init__(
            f"Pages on {origin} may not use this credential: add the origin to the "
            "tenant's allowed origins"
        )


class OriginPolicy:
    def __init__(self, deployment_origins: list[str]) -> None:
        parsed = (parse_origin(o) for o in deployment_origins)
        self.deployment = frozenset(o for o in parsed if o is not None)
        self.any_origin = "*" in deployment_origins

    def foreign_origin(self, headers: Headers, scheme: str) -> str | None:
        """The request's `Origin` when it is another site's; None for same-origin pages
        and for clients that are not browsers (no `Origin` header)."""
        raw = headers.get("origin")
        if raw is None:
            return None
        own = request_origin(scheme, headers.get("host"))
        origin = parse_origin(raw)
        return None if origin is not None and origin == own else (origin or raw)

    async def allows(self, origin: str, tenant_id: UUID | None = None) -> bool:
        """Whether pages on `origin` may call the API: for `tenant_id`'s credentials, or
        (None) for some tenant's."""
        if self.any_origin or origin in self.deployment:
            return True
        if tenant_id is None:
            return await allowed_by_any_tenant(origin)
        return await allowed_by_tenant(tenant_id, origin)

    async def check(self, origin: str | None, tenant_id: UUID) -> None:
        """Refuse a credential of `tenant_id` used from a page on a foreign `origin`."""
        if origin is not None and not await self.allows(origin, tenant_id):
            raise OriginNotAllowed(origin)


class CORSMiddleware:
    """CORS for the API paths: preflights answered, responses to allowed origins marked.
    A request from an origin that is not allowed still reaches the app (it may come from a
    non-browser client that forged the header), but the browser will not let the page read
    the answer, and credentials of a tenant are refused by `OriginPolicy.check`."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CORS_PATHS):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = self.policy.foreign_origin(headers, scope["scheme"])
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = await self.policy.allows(origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, allowed)(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = origin
                response_headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_marked)

    @staticmethod
    def _preflight(origin: str, allowed: bool) -> PlainTextResponse:
        if not allowed:
            return PlainTextResponse(
                "Origin not allowed", status_code=403, headers={"Vary": "Origin"}
            )
        return PlainTextResponse(
            "",
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                "Vary": "Origin",
            },
        )
