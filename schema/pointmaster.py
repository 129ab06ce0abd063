"""Point-master types: point modes and their audit trail, the tenant's point-master
settings and shared keys, and the errors of the point-master mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.errors import DomainError, ErrorCode
from core.ssrf import UrlCode
from models.db.codes import DbCode
from models.pointmaster import tables as m
from models.pointmaster.codes import PointMasterCode
from models.pointmaster.settings import masked
from models.points.codes import PointsCode
from models.webhooks.tables import WebhookEndpoint
from schema.common import AccountError, error_codes, user_error
from schema.points import PointDefinition, PointMode

PointMasterErrorCode = error_codes(
    "PointMasterErrorCode",
    ErrorCode.INVALID,
    ErrorCode.NOT_FOUND,
    UrlCode,
    PointMasterCode.WRONG_POINT_MODE,
    PointMasterCode.TOO_MANY_ITEMS,
    PointMasterCode.EMPTY_BATCH,
    PointMasterCode.NO_KEY,
    PointMasterCode.NO_ADJUSTMENT_URL,
    PointMasterCode.ADJUSTMENT_ENDPOINT_DISABLED,
    PointsCode.INSUFFICIENT_POINTS,
    DbCode.IDEMPOTENCY_CONFLICT,
    PointsCode.BALANCE_LIMIT,
    PointMasterCode.INVALID_JSON,  # an upload's items, sent other than as a JSON array
    DbCode.TOO_LONG,
)


@strawberry.type
class PointMasterError:
    field: str | None
    message: str
    code: PointMasterErrorCode  # type: ignore[valid-type]

    @classmethod
    def from_error(cls, exc: DomainError) -> PointMasterError:
        return user_error(cls, exc)


def _mode(value: str | None) -> PointMode | None:
    return PointMode(str(value)) if value else None


@strawberry.type(description="A recorded switch of a point mode")
class PointModeChange:
    id: strawberry.ID
    point_definition_id: strawberry.ID | None = strawberry.field(
        description="Set when one currency's own mode changed; null for the tenant's mode"
    )
    old_mode: PointMode | None = strawberry.field(description="null: followed the tenant's")
    new_mode: PointMode | None = strawberry.field(description="null: follows the tenant's")
    actor: str
    reason: str
    created_at: datetime

    @classmethod
    def from_model(cls, c: m.PointModeChange) -> PointModeChange:
        definition = c.point_definition_id
        return cls(
            id=strawberry.ID(str(c.id)),
            point_definition_id=strawberry.ID(str(definition)) if definition else None,
            old_mode=_mode(c.old_mode),
            new_mode=_mode(c.new_mode),
            actor=c.actor,
            reason=c.reason,
            created_at=c.created_at,
        )


@strawberry.type
class PointModePayload:
    mode: PointMode | None = strawberry.field(
        default=None, description="The mode now in force (of the currency, when one was given)"
    )
    point_definition: PointDefinition | None = None
    change: PointModeChange | None = strawberry.field(
        default=None, description="The recorded change; null when the mode was already set"
    )
    errors: list[AccountError] = strawberry.field(default_factory=list)


@strawberry.type(description="An AES-256 key shared with the point master; never shown again")
class PointMasterKey:
    key_id: str = strawberry.field(description="Sent beside each payload as `keyId`")
    current: bool
    created_by: str
    created_at: datetime
    retired_at: datetime | None

    @classmethod
    def from_model(cls, k: m.PointMasterKey) -> PointMasterKey:
        return cls(
            key_id=k.key_id,
            current=k.retired_at is None,
            created_by=k.created_by,
            created_at=k.created_at,
            retired_at=k.retired_at,
        )


@strawberry.type
class PointMasterSettings:
    points_log_url: str | None = strawberry.field(description="Template with {contactId}")
    points_log_auth_header: str
    points_log_auth_value: str | None = strawberry.field(
        description="Masked: only whether it is set, and its last 4 characters"
    )
    points_log_timeout_ms: int
    points_log_cache_seconds: int
    adjustment_url: str | None
    adjustment_endpoint_id: strawberry.ID | None = strawberry.field(
        description="The POINT_MASTER webhook endpoint: its deliveries are the adjustments"
    )
    keys: list[PointMasterKey]
    updated_by: str
    updated_at: datetime

    @classmethod
    def from_model(
        cls,
        s: m.PointMasterSettings,
        endpoint: WebhookEndpoint | None,
        keys: list[m.PointMasterKey],
    ) -> PointMasterSettings:
        return cls(
            points_log_url=s.points_log_url,
            points_log_auth_header=s.points_log_auth_header,
            points_log_auth_value=masked(s.points_log_auth_value),
            points_log_timeout_ms=s.points_log_timeout_ms,
            points_log_cache_seconds=s.points_log_cache_seconds,
            adjustment_url=endpoint.url if endpoint and endpoint.enabled else None,
            adjustment_endpoint_id=strawberry.ID(str(endpoint.id)) if endpoint else None,
            keys=[PointMasterKey.from_model(k) for k in keys],
            updated_by=s.updated_by,
            updated_at=s.updated_at,
        )


@strawberry.input(
    description=(
        "Omitted fields are kept; null or empty clears them (the auth header, timeout and "
        "cache TTL go back to their defaults: Authorization, 5000 ms, 60 s)"
    )
)
class PointMasterSettingsInput:
    points_log_url: str | None = strawberry.UNSET
    points_log_auth_header: str | None = strawberry.UNSET
    points_log_auth_value: str | None = strawberry.UNSET
    points_log_timeout_ms: int | None = strawberry.UNSET
    points_log_cache_seconds: int | None = strawberry.UNSET
    adjustment_url: str | None = strawberry.UNSET


@strawberry.type
class PointMasterSettingsPayload:
    settings: PointMasterSettings | None = None
    adjustment_endpoint_secret: str | None = strawberry.field(
        default=None,
        description="The adjustment endpoint's signing secret: shown once, when it is created",
    )
    errors: list[PointMasterError] = strawberry.field(default_factory=list)


@strawberry.type
class PointMasterKeyPayload:
    key: PointMasterKey | None = None
    secret: str | None = strawberry.field(
        default=None, description="The key (base64 of 32 bytes): shown once, give it to the master"
    )
    errors: list[PointMasterError] = strawberry.field(default_factory=list)
