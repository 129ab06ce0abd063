"""Shared GraphQL pieces: page info, typed user errors per domain."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError

from core.errors import Code, DomainError, ErrorCode
from core.signing import SigningCode
from core.ssrf import UrlCode
from core.text import TextCode
from models.catalog.codes import CatalogCode
from models.catalog.eligibility import Ineligibility
from models.db.codes import DbCode
from models.pointmaster.codes import PointMasterCode
from models.points.codes import PointsCode
from models.redemptions.codes import RedemptionCode
from models.tenancy.codes import AccountCode


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


def error_codes(name: str, *sources: type[Code] | Code) -> Any:
    """A GraphQL enum of domain codes: each source is a whole code enum (its codes to come
    included) or one code of a shared enum. Codes keep the order they are first named in,
    the order the enum was first published in."""
    values: dict[str, str] = {}
    for source in sources:
        for code in [source] if isinstance(source, Code) else list(source):
            if values.setdefault(code.name, code.value) != code.value:
                raise ValueError(f"{name}: {code.name} names two values")
    codes: Any = Enum(name, values)  # type: ignore[misc]
    return strawberry.enum(codes, name=name)


CatalogErrorCode = error_codes(
    "CatalogErrorCode",
    ErrorCode.INVALID,
    ErrorCode.REQUIRED,
    ErrorCode.NOT_FOUND,
    CatalogCode.ARCHIVED,
    ErrorCode.DUPLICATE,
    CatalogCode,
    DbCode.TOO_LONG,
)
MemberErrorCode = error_codes(
    "MemberErrorCode",
    ErrorCode.INVALID,
    ErrorCode.REQUIRED,
    ErrorCode.NOT_FOUND,
    ErrorCode.CONCURRENT_UPDATE,
    DbCode.TOO_LONG,
)
PointsErrorCode = error_codes(
    "PointsErrorCode",
    ErrorCode.INVALID,
    ErrorCode.NOT_FOUND,
    PointsCode.INSUFFICIENT_POINTS,
    DbCode.IDEMPOTENCY_CONFLICT,
    PointMasterCode.MASTER_OWNS_POINTS,
    PointsCode,
    DbCode.TOO_LONG,
)
RedemptionErrorCode = error_codes(
    "RedemptionErrorCode",
    ErrorCode.INVALID,
    ErrorCode.NOT_FOUND,
    Ineligibility,
    DbCode.IDEMPOTENCY_CONFLICT,
    RedemptionCode,
    ErrorCode.CONCURRENT_UPDATE,
    PointMasterCode.NO_ADJUSTMENT_URL,  # follower mode: the master cannot be told
    PointMasterCode.NO_KEY,
    PointMasterCode.ADJUSTMENT_ENDPOINT_DISABLED,
    TextCode,
    DbCode.TOO_LONG,
)
AccountErrorCode = error_codes(
    "AccountErrorCode",
    ErrorCode.INVALID,
    AccountCode.INVALID_CREDENTIALS,
    ErrorCode.NOT_FOUND,
    ErrorCode.DUPLICATE,
    AccountCode,
    DbCode.TOO_LONG,
)
WebhookErrorCode = error_codes(
    "WebhookErrorCode",
    ErrorCode.INVALID,
    UrlCode,
    ErrorCode.NOT_FOUND,
    SigningCode,
)


@strawberry.type
class WebhookError:
    field: str | None
    message: str
    code: WebhookErrorCode  # type: ignore[valid-type]


@strawberry.type
class CatalogError:
    field: str | None
    message: str
    code: CatalogErrorCode  # type: ignore[valid-type]


@strawberry.type
class MemberError:
    field: str | None
    message: str
    code: MemberErrorCode  # type: ignore[valid-type]


@strawberry.type
class PointsError:
    field: str | None
    message: str
    code: PointsErrorCode  # type: ignore[valid-type]


@strawberry.type
class RedemptionError:
    field: str | None
    message: str
    code: RedemptionErrorCode  # type: ignore[valid-type]


@strawberry.type
class AccountError:
    field: str | None
    message: str
    code: AccountErrorCode  # type: ignore[valid-type]


E = TypeVar("E")


class UnrepresentableCode(LookupError):
    """A domain code reached a payload whose GraphQL enum lacks it: add its enum (or the
    code) to the payload's `error_codes(...)`. tests/api/test_error_codes.py finds these
    before any request does."""


def payload_codes(error_type: Any) -> type[Enum]:
    """The GraphQL enum of an error type's `code` field."""
    definition = error_type.__strawberry_definition__
    field = next(field for field in definition.fields if field.python_name == "code")
    codes = field.type
    return codes.wrapped_cls if hasattr(codes, "wrapped_cls") else codes


# Fields the models name as the point-master API does, and the GraphQL inputs otherwise.
_INPUT_FIELDS = {"definitionId": "pointDefinitionId"}


def user_error(error_type: type[E], exc: DomainError) -> E:
    """The domain error as this domain's typed error, its code the same value."""
    codes = payload_codes(error_type)
    try:
        code = codes(exc.code.value)
    except ValueError:
        raise UnrepresentableCode(
            f"{error_type.__name__} cannot carry {type(exc.code).__name__}.{exc.code.name}"
        ) from exc
    field = _INPUT_FIELDS.get(exc.field, exc.field) if exc.field else None
    return error_type(field=field, message=exc.message, code=code)  # type: ignore[call-arg]


def is_member(info: strawberry.Info) -> bool:
    """Whether a member token is asking: such callers see only what is meant for members
    (the context's principal is set by resolvers.auth; types read it, never import it)."""
    return getattr(info.context.principal, "kind", None) == "member"
