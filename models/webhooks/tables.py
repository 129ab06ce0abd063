"""Webhook endpoints, the delivery outbox and its attempt log."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.tenancy.tables import Tenant

MAX_URL = 2000  # characters of an endpoint's URL (and of a points-log URL template)


class PayloadFormat(StrEnum):
    GAMIFY = "GAMIFY"
    XTREMEPUSH = "XTREMEPUSH"
    TOOLZZ = "TOOLZZ"
    # The point master's adjustment endpoint (`loyalty.addPoints`): managed by the
    # point-master settings, never a fulfilment endpoint.
    POINT_MASTER = "POINT_MASTER"


# The seed spec's name of `redemption.created`: accepted wherever an event is named, and
# still the `event` of that event's GAMIFY body (docs/webhooks.md).
REWARD_REDEEMED_ALIAS = "reward_redeemed"


class WebhookEvent(StrEnum):
    """The catalogue endpoints subscribe to, named `noun.verb` (docs/webhooks.md)."""

    REDEMPTION_CREATED = "redemption.created"
    REDEMPTION_STATUS_CHANGED = "redemption.status_changed"
    POINTS_EARNED = "points.earned"
    POINTS_SPENT = "points.spent"
    POINTS_REFUNDED = "points.refunded"
    POINTS_ADJUSTED = "points.adjusted"
    POINTS_EXPIRED = "points.expired"
    POINTS_EXPIRING_SOON = "points.expiring_soon"
    MEMBER_TIER_CHANGED = "member.tier_changed"
    REWARD_LOW_STOCK = "reward.low_stock"
    SYNC_BATCH_FAILED_ITEMS = "sync.batch_failed_items"
    ENDPOINT_DISABLED = "endpoint.disabled"
    # A Python alias of REDEMPTION_CREATED (same member), for code written before the rename.
    REWARD_REDEEMED = "redemption.created"

    @classmethod
    def _missing_(cls, value: object) -> WebhookEvent | None:
        return cls.REDEMPTION_CREATED if value == REWARD_REDEEMED_ALIAS else None


def event_name(name: str) -> str:
    """The catalogue's name of an event (`reward_redeemed` is `redemption.created`); other
    names (system events) as they are."""
    try:
        return WebhookEvent(name).value
    except ValueError:
        return name


class SystemEvent(StrEnum):
    """Deliveries no endpoint subscribes to: a ping, the point master's adjustments."""

    PING = "ping"
    LOYALTY_ADD_POINTS = "loyalty.addPoints"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # due at next_attempt_at (first try or a retry)
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"  # retries exhausted, or the endpoint is gone; can be replayed


class WebhookEndpoint(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=MAX_URL)
    events: fields.Field[list[str]] = fields.JSONField()
    payload_format = fields.CharEnumField(PayloadFormat, max_length=16)
    enabled = fields.BooleanField(default=True)
    secret = fields.CharField(max_length=200)
    previous_secret = fields.CharField(max_length=200, null=True)
    previous_secret_until = fields.DatetimeField(null=True)
    disabled_reason = fields.TextField(null=True)
    # Set at the first failure after a success; the endpoint is disabled when it has
    # been failing for longer than the tenant's tolerance.
    failing_since = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    tenant_id: UUID

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One event for one endpoint. Its id is the `webhook-id`, stable across retries."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    event = fields.CharField(max_length=64)
    redemption_id = fields.UUIDField(null=True, db_index=True)
    payload: fields.Field[dict[str, Any]] = fields.JSONField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16)
    attempt_count = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    # A worker holds the delivery until this moment; a crashed worker's lease runs out
    # and the relay hands the delivery to another one.
    leased_until = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    tenant_id: UUID
    endpoint_id: UUID

    class Meta:
        table = "webhook_delivery"
        indexes = (("status", "next_attempt_at"), ("endpoint_id", "created_at"))


class WebhookAttempt(Model):
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="webhook_attempts", on_delete=fields.CASCADE
    )
    delivery: fields.ForeignKeyRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name="attempts", on_delete=fields.CASCADE
    )
    attempted_at = fields.DatetimeField()
    status_code = fields.IntField(null=True)
    latency_ms = fields.IntField()
    response_body = fields.TextField(default="")
    error = fields.TextField(null=True)

    tenant_id: UUID
    delivery_id: UUID

    class Meta:
        table = "webhook_attempt"
        indexes = (("delivery_id", "id"),)
