"""Shared GraphQL pieces: page info, typed user errors per domain."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError

from core.errors import DomainError


def _parse_datetime(value: object) -> datetime:
    # A GraphQLError, as strawberry's own scalars raise, so the message is not masked.
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". Expected a string.'
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}".'
        ) from None
    # Naive input means UTC (as the database reads it): comparing it with the aware
    # times the engine keeps would otherwise raise deep inside a resolver.
    parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)  # what the database stores: year 1 at +01:00 has no UTC time
    except OverflowError:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". It is outside years 1 to 9999 in UTC.'
        ) from None
    return parsed


UtcDateTime = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=datetime.isoformat,
    parse_value=_parse_datetime,
)
"""Strawberry's DateTime, except that every parsed value is timezone-aware."""


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.enum
class CatalogErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    ARCHIVED = "ARCHIVED"
    DUPLICATE = "DUPLICATE"
    HAS_REDEMPTIONS = "HAS_REDEMPTIONS"


@strawberry.enum
class MemberErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"


@strawberry.enum
class PointsErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    MASTER_OWNS_POINTS = "MASTER_OWNS_POINTS"
    BALANCE_LIMIT = "BALANCE_LIMIT"  # the balance would pass 2^31-1, GraphQL Int's limit


@strawberry.enum
class RedemptionErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    TIER_REQUIRED = "TIER_REQUIRED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    COOLDOWN = "COOLDOWN"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    ALREADY_FINAL = "ALREADY_FINAL"
    CONTRADICTING_CALLBACK = "CONTRADICTING_CALLBACK"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"
    NO_ADJUSTMENT_URL = "NO_ADJUSTMENT_URL"  # follower mode: the master cannot be told
    NO_KEY = "NO_KEY"
    ADJUSTMENT_ENDPOINT_DISABLED = "ADJUSTMENT_ENDPOINT_DISABLED"


@strawberry.enum
class AccountErrorCode(Enum):
    INVALID = "INVALID"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    INVALID_ORIGIN = "INVALID_ORIGIN"
    TOO_MANY = "TOO_MANY"


@strawberry.enum
class WebhookErrorCode(Enum):
    INVALID = "INVALID"
    INVALID_URL = "INVALID_URL"
    BLOCKED_ADDRESS = "BLOCKED_ADDRESS"
    UNRESOLVABLE = "UNRESOLVABLE"
    NOT_FOUND = "NOT_FOUND"
    INVALID_SECRET = "INVALID_SECRET"


@strawberry.type
class WebhookError:
    field: str | None
    message: str
    code: WebhookErrorCode


@strawberry.type
class CatalogError:
    field: str | None
    message: str
    code: CatalogErrorCode


@strawberry.type
class MemberError:
    field: str | None
    message: str
    code: MemberErrorCode


@strawberry.type
class PointsError:
    field: str | None
    message: str
    code: PointsErrorCode


@strawberry.type
class RedemptionError:
    field: str | None
    message: str
    code: RedemptionErrorCode


@strawberry.type
class AccountError:
    field: str | None
    message: str
    code: AccountErrorCode


E = TypeVar("E")

_CODES: dict[type, type[Enum]] = {
    CatalogError: CatalogErrorCode,
    MemberError: MemberErrorCode,
    PointsError: PointsErrorCode,
    RedemptionError: RedemptionErrorCode,
    AccountError: AccountErrorCode,
    WebhookError: WebhookErrorCode,
}


# Fields the models name as the point-master API does, and the GraphQL inputs otherwise.
_INPUT_FIELDS = {"definitionId": "pointDefinitionId"}


def user_error(error_type: type[E], exc: DomainError) -> E:
    """The domain error as this domain's typed error; unknown codes become INVALID."""
    codes: Any = _CODES[error_type]
    code = codes.__members__.get(exc.code, codes.INVALID)
    field = _INPUT_FIELDS.get(exc.field, exc.field) if exc.field else None
    return error_type(field=field, message=exc.message, code=code)  # type: ignore[call-arg]


def is_member(info: strawberry.Info) -> bool:
    """Whether a member token is asking: such callers see only what is meant for members
    (the context's principal is set by resolvers.auth; types read it, never import it)."""
    return getattr(info.context.principal, "kind", None) == "member"
