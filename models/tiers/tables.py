"""A tenant's tier policy and every member's tier changes."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.members.tables import Member, Tier
from models.points.tables import PointDefinition
from models.tenancy.tables import Tenant


class TierBasis(StrEnum):
    POINTS_EARNED = "POINTS_EARNED"  # points earned (not refunds or syncs), net of returns
    PURCHASE_POINTS = "PURCHASE_POINTS"  # points from PURCHASE postings, net of returns


class TierChangeReason(StrEnum):
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"
    MANUAL = "MANUAL"


class TierPolicy(Model):
    """How a tenant's tiers are computed: one per tenant (none = tiers are set by hand)."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.OneToOneRelation[Tenant] = fields.OneToOneField(
        "models.Tenant", related_name="tier_policy", on_delete=fields.CASCADE
    )
    enabled = fields.BooleanField(default=False)
    basis = fields.CharEnumField(TierBasis, max_length=24, default=TierBasis.POINTS_EARNED)
    # The currency whose activity counts; null = the tenant's default currency.
    definition: fields.ForeignKeyNullableRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition", related_name="tier_policies", null=True, on_delete=fields.SET_NULL
    )
    window_months = fields.IntField(default=12)
    # A tier is kept this long after it was reached (or last re-qualified for) before
    # a downgrade is considered.
    review_months = fields.IntField(default=12)
    grace_days = fields.IntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    tenant_id: UUID
    definition_id: UUID | None

    class Meta:
        table = "tier_policy"


class TierChange(Model):
    """One change of a member's tier, written in the transaction that makes it."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="tier_changes", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tier_changes", on_delete=fields.CASCADE
    )
    # Tiers may be deleted later: the names are kept as they were.
    from_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="changes_from", null=True, on_delete=fields.SET_NULL
    )
    to_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="changes_to", null=True, on_delete=fields.SET_NULL
    )
    from_name = fields.CharField(max_length=100, null=True)
    to_name = fields.CharField(max_length=100, null=True)
    reason = fields.CharEnumField(TierChangeReason, max_length=16)
    note = fields.TextField(default="")  # the admin's reason for an override
    activity = fields.BigIntField(null=True)  # the basis value the change was computed on
    actor = fields.CharField(max_length=200, default="system")
    created_at = fields.DatetimeField()

    tenant_id: UUID
    member_id: UUID
    from_tier_id: UUID | None
    to_tier_id: UUID | None

    class Meta:
        table = "tier_change"
        indexes = (("member_id", "created_at"),)
