"""Webhook endpoints and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from models.webhooks import tables as m
from schema.common import PageInfo, WebhookError
from schema.loaders import loaders

PayloadFormat = strawberry.enum(m.PayloadFormat, name="PayloadFormat")
DeliveryStatus = strawberry.enum(m.DeliveryStatus, name="DeliveryStatus")
WebhookEventType = strawberry.enum(
    m.WebhookEvent,
    name="WebhookEventType",
    description="The events an endpoint subscribes to (docs/webhooks.md shows each body); "
    "`events` takes and shows their names (`redemption.created`, ...), and accepts "
    "`reward_redeemed` for `redemption.created`",
)


_CATALOGUE = {e.value for e in m.WebhookEvent}


@strawberry.type
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    events: list[str]
    event_types: list[WebhookEventType]  # type: ignore[valid-type]
    payload_format: PayloadFormat  # type: ignore[valid-type]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_valid_until: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, e: m.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(e.id)),
            url=e.url,
            events=list(e.events),
            event_types=[m.WebhookEvent(name) for name in e.events if name in _CATALOGUE],
            payload_format=m.PayloadFormat(e.payload_format),
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            failing_since=e.failing_since,
            previous_secret_valid_until=e.previous_secret_until,
            created_at=e.created_at,
        )


@strawberry.type
class WebhookAttempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str
    error: str | None

    @classmethod
    def from_model(cls, a: m.WebhookAttempt) -> WebhookAttempt:
        return cls(
            attempted_at=a.attempted_at,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            response_body=a.response_body,
            error=a.error,
        )


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Also the `webhook-id` header")
    endpoint_id: strawberry.ID
    event: str
    redemption_id: strawberry.ID | None
    payload: JSON
    status: DeliveryStatus  # type: ignore[valid-type]
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    model: strawberry.Private[m.WebhookDelivery]

    @strawberry.field(description="Every attempt, oldest first")
    async def attempts(self, info: strawberry.Info) -> list[WebhookAttempt]:
        rows = await loaders(info).attempts.load(self.model.id)
        return [WebhookAttempt.from_model(a) for a in rows]

    @classmethod
    def from_model(cls, d: m.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(d.id)),
            endpoint_id=strawberry.ID(str(d.endpoint_id)),
            event=d.event,
            redemption_id=strawberry.ID(str(d.redemption_id)) if d.redemption_id else None,
            payload=cast(JSON, d.payload),
            status=m.DeliveryStatus(d.status),
            attempt_count=d.attempt_count,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            model=d,
        )


@strawberry.type
class WebhookDeliveryConnection:
    nodes: list[WebhookDelivery]
    page_info: PageInfo


@strawberry.input
class WebhookEndpointInput:
    url: str | None = None
    events: list[str] | None = strawberry.field(
        default=None, description="Event names; with eventTypes, the endpoint gets both"
    )
    event_types: list[WebhookEventType] | None = None  # type: ignore[valid-type]
    payload_format: PayloadFormat | None = None  # type: ignore[valid-type]
    enabled: bool | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="On create: the tenant's own signing secret (whsec_ and the base64 of 24 "
        "to 64 random bytes) instead of a new one; change it with rotateWebhookSecret",
    )


@strawberry.input
class WebhookDeliveryFilter:
    endpoint_id: strawberry.ID | None = None
    redemption_id: strawberry.ID | None = None
    status: DeliveryStatus | None = None  # type: ignore[valid-type]


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret: shown once, on create and rotate"
    )
    errors: list[WebhookError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookDeliveryPayload:
    deliveries: list[WebhookDelivery] = strawberry.field(default_factory=list)
    errors: list[WebhookError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookSettings:
    points_expiring_soon_days: int = strawberry.field(
        description="points.expiring_soon goes out this many days before points expire"
    )


@strawberry.type
class WebhookSettingsPayload:
    settings: WebhookSettings | None = None
    errors: list[WebhookError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookDeletePayload:
    deleted: bool = False
    errors: list[WebhookError] = strawberry.field(default_factory=list)
