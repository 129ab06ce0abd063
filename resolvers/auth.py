"""Who is asking: admin JWT, API key, or member token; and what each may do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import strawberry
from graphql import GraphQLError
from starlette.responses import Response

from core.after_commit import current_unit
from core.errors import AuthError, NotFound, Unauthenticated
from core.queue import JobQueue, NoQueue
from core.rate_limit import Counters, RateLimited
from core.security import API_KEY_PREFIX, read_token
from core.settings import Settings
from models.members.reads import member_named
from models.members.tables import Member
from models.tenancy.access import admin_exists, tenant_for_api_key
from models.tenancy.readers import Reader
from schema.loaders import Loaders

PrincipalKind = Literal["admin", "api_key", "member"]
ADMIN: tuple[PrincipalKind, ...] = ("admin",)
BACKEND: tuple[PrincipalKind, ...] = ("admin", "api_key")
ANYONE: tuple[PrincipalKind, ...] = ("admin", "api_key", "member")


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    tenant_id: UUID
    subject_id: UUID
    actor: str  # how events and ledger entries name who did it
    # When a token stops being valid (epoch seconds; None for API keys): open WebSockets
    # are closed then. Not part of who the caller is, so not of equality either.
    expires_at: int | None = field(default=None, compare=False)

    @property
    def member_id(self) -> UUID | None:
        return self.subject_id if self.kind == "member" else None

    @property
    def reader(self) -> Reader:
        """What this caller may read (models.tenancy.readers): the domains' `reads`
        modules cut every query to it."""
        return Reader(self.tenant_id, self.member_id)


@dataclass
class Context:
    settings: Settings
    principal: Principal | None
    request: Any = None
    response: Any = None
    auth_error: AuthError | None = None
    queue: JobQueue = field(default_factory=NoQueue)
    broker: Any = None  # core.broker.Broker when Redis is configured
    connection_params: dict[str, Any] | None = None  # WebSocket connection_init payload
    counters: Counters = field(default_factory=Counters)  # rate limits (Redis, once connected)
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """The field resolvers' DataLoaders (schema.loaders), cut to the caller; made on first
        use, once the caller is known (a WebSocket's at connection_init). A query has its
        own, which cache (it is one unit of work that changes nothing it reads)."""
        if self.principal is None:
            raise GraphQLError("Authentication required", extensions={"code": "UNAUTHENTICATED"})
        unit = current_unit()
        if unit is not None and unit.query:
            found = unit.memo.get(Loaders)
            if found is None:
                found = unit.memo[Loaders] = Loaders(self.principal.reader, cache=True)
            return found
        if self._loaders is None:
            self._loaders = Loaders(self.principal.reader)
        return self._loaders


async def authenticate(
    authorization: str | None, settings: Settings, *, fresh: bool = False
) -> Principal | None:
    """The principal for an `Authorization: Bearer ...` value; None when absent. An API
    key comes from the cache (models.tenancy.access) unless `fresh`: a WebSocket's checks
    read the database, as they alone decide whether its open socket may go on."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token or API key>'")
    credential = credential.strip()
    if credential.startswith(API_KEY_PREFIX):
        key = await tenant_for_api_key(credential, fresh=fresh)
        return Principal("api_key", key.tenant_id, key.id, f"api_key:{key.prefix}")
    claims = read_token(settings.secret_key, credential)
    tenant_id, subject = UUID(claims.tenant_id), UUID(claims.subject)
    if claims.kind == "admin":
        # A token outlives nothing: an admin removed since it was issued is nobody.
        if not await admin_exists(tenant_id, subject):
            raise Unauthenticated("Unknown admin")
        return Principal("admin", tenant_id, subject, f"admin:{subject}", claims.expires_at)
    return Principal("member", tenant_id, subject, f"member:{subject}", claims.expires_at)


def auth_error(exc: AuthError) -> GraphQLError:
    return GraphQLError(exc.message, extensions={"code": exc.code}, original_error=exc)


def client_address(request: Any) -> str:
    """The caller's address, as the server saw it (behind a proxy, uvicorn's
    --forwarded-allow-ips makes it the client's)."""
    client = getattr(request, "client", None)
    return client.host if client is not None else "unknown"


def rate_limited(info: strawberry.Info, exc: RateLimited) -> GraphQLError:
    """The top-level error for a rate limit; over HTTP the answer is a 429 with Retry-After."""
    response = info.context.response
    if isinstance(response, Response):
        response.status_code = 429
        response.headers["Retry-After"] = str(exc.retry_after)
    return GraphQLError(exc.message, extensions={"code": exc.code, "retryAfter": exc.retry_after})


def require(info: strawberry.Info, kinds: tuple[PrincipalKind, ...]) -> Principal:
    """The caller, if it is one of `kinds`; otherwise a top-level error."""
    principal: Principal | None = info.context.principal
    if info.context.auth_error is not None:
        raise auth_error(info.context.auth_error)
    if principal is None:
        raise GraphQLError("Authentication required", extensions={"code": "UNAUTHENTICATED"})
    if principal.kind not in kinds:
        raise GraphQLError("You may not do this", extensions={"code": "FORBIDDEN"})
    return principal


def parse_id(value: str | None, field: str) -> UUID | None:
    """An id from the API; a malformed one is simply "not found" for the caller."""
    if value is None:
        return None
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFound("Not found", field=field) from None


async def target_member(
    principal: Principal, member_id: str | None, external_user_id: str | None
) -> Member:
    """The member a request is about, if the caller may read it (models.members.reads)."""
    member = await member_named(
        principal.reader, parse_id(member_id or None, "memberId"), external_user_id
    )
    if member is None:
        raise NotFound("Member not found", field="memberId")
    return member
