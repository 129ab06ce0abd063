"""Members (a tenant's end users) and the tiers that gate rewards."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.tenancy.tables import Tenant


class Tier(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="tiers", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    # Higher rank = better tier; a reward gated at rank r admits members of rank >= r.
    rank = fields.IntField()
    # Activity (models.tiers.policy's basis, in its window) that qualifies for the tier;
    # null = the tier is given by hand only, never computed.
    min_value = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: UUID

    class Meta:
        table = "tier"
        unique_together = (("tenant", "name"),)


MAX_EXTERNAL_ID = 200  # Member.external_user_id's length


class Member(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="members", on_delete=fields.CASCADE
    )
    external_user_id = fields.CharField(max_length=MAX_EXTERNAL_ID)
    email = fields.CharField(max_length=254, null=True)
    name = fields.CharField(max_length=200, null=True)
    address: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="members", null=True, on_delete=fields.SET_NULL
    )
    # Computed tiers (models.tiers): when the tier is next re-evaluated (a downgrade
    # happens only then), whether that date is the end of a grace period, and a manual
    # override that computation leaves alone until it is cleared or runs out.
    tier_review_at = fields.DatetimeField(null=True, db_index=True)
    tier_in_grace = fields.BooleanField(default=False)
    tier_override = fields.BooleanField(default=False)
    tier_override_reason = fields.TextField(null=True)
    tier_override_until = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    tenant_id: UUID
    tier_id: UUID

    class Meta:
        table = "member"
        unique_together = (("tenant", "external_user_id"),)
