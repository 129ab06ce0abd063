"""Redemptions and their event timeline."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.catalog.tables import Reward
from models.members.tables import Member
from models.points.tables import PointDefinition
from models.tenancy.tables import Tenant


class RedemptionStatus(StrEnum):
    REDEEMED = "REDEEMED"
    POSTPONED = "POSTPONED"
    RECOVERABLE_FAILURE = "RECOVERABLE_FAILURE"
    FULFILLED = "FULFILLED"
    FAILED = "FAILED"


TERMINAL_STATUSES = frozenset({RedemptionStatus.FULFILLED, RedemptionStatus.FAILED})


class RedemptionEventKind(StrEnum):
    REDEEM_REQUESTED = "REDEEM_REQUESTED"
    POINTS_WITHDRAWN = "POINTS_WITHDRAWN"
    STATUS_CHANGED = "STATUS_CHANGED"
    POINTS_REFUNDED = "POINTS_REFUNDED"
    STOCK_RETURNED = "STOCK_RETURNED"
    WEBHOOK_POSTED = "WEBHOOK_POSTED"
    DATA_ADDED = "DATA_ADDED"


class Redemption(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="redemptions", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemptions", on_delete=fields.CASCADE
    )
    reward: fields.ForeignKeyRelation[Reward] = fields.ForeignKeyField(
        "models.Reward", related_name="redemptions", on_delete=fields.RESTRICT
    )
    definition: fields.ForeignKeyRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition", related_name="redemptions", on_delete=fields.RESTRICT
    )
    quantity = fields.IntField()
    points_spent = fields.BigIntField()
    status = fields.CharEnumField(RedemptionStatus, max_length=32)
    fulfillment_data: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    reason = fields.TextField(null=True)
    refunded_at = fields.DatetimeField(null=True)
    # When it was fulfilled, as the fulfilment backend says (its callback's fulfilled_at),
    # else when the engine recorded it.
    fulfilled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    tenant_id: UUID
    member_id: UUID
    reward_id: UUID
    definition_id: UUID

    class Meta:
        table = "redemption"
        indexes = (
            ("tenant_id", "created_at"),
            ("tenant_id", "status", "created_at"),
            ("member_id", "created_at"),
        )


class RedemptionEvent(Model):
    # A sequential id orders the timeline and serves as a resume cursor.
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="redemption_events", on_delete=fields.CASCADE
    )
    redemption: fields.ForeignKeyRelation[Redemption] = fields.ForeignKeyField(
        "models.Redemption", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(RedemptionEventKind, max_length=32)
    message = fields.TextField(default="")
    from_status = fields.CharEnumField(RedemptionStatus, max_length=32, null=True)
    to_status = fields.CharEnumField(RedemptionStatus, max_length=32, null=True)
    data: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    actor = fields.CharField(max_length=200, default="system")
    created_at = fields.DatetimeField()

    tenant_id: UUID
    redemption_id: UUID

    class Meta:
        table = "redemption_event"
        # The timeline of one redemption, and a tenant's events after a resume cursor.
        indexes = (("redemption_id", "id"), ("tenant_id", "id"))
