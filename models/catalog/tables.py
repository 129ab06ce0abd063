"""The reward catalog and each member's use of a reward (limit and cooldown)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.members.tables import Member, Tier
from models.points.tables import PointDefinition
from models.tenancy.tables import Tenant


class RewardType(StrEnum):
    VOUCHER = "VOUCHER"
    DISCOUNT_CODE = "DISCOUNT_CODE"
    GIFT = "GIFT"
    CREDIT = "CREDIT"
    PHYSICAL = "PHYSICAL"
    CUSTOM = "CUSTOM"


class Reward(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="rewards", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    type = fields.CharEnumField(RewardType, max_length=32)
    value = fields.CharField(max_length=100, default="")
    point_cost = fields.BigIntField()
    definition: fields.ForeignKeyRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition", related_name="rewards", on_delete=fields.RESTRICT
    )
    stock = fields.IntField(null=True)
    # A `reward.low_stock` webhook when the stock falls below this (null: never).
    low_stock_threshold = fields.IntField(null=True)
    min_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="rewards", null=True, on_delete=fields.SET_NULL
    )
    cooldown_seconds = fields.IntField(null=True)
    per_member_limit = fields.IntField(null=True)
    available_from = fields.DatetimeField(null=True)
    available_until = fields.DatetimeField(null=True)
    # Tenant-only (sent to the fulfilment backend); `public_data` is what members may read.
    fulfillment_data: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    public_data: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    image_url = fields.CharField(max_length=2000, null=True)
    enabled = fields.BooleanField(default=True)
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    tenant_id: UUID
    definition_id: UUID
    min_tier_id: UUID
    # Its CodePool, if it has one (select_related("code_pool") reads it with the reward).
    code_pool: fields.BackwardOneToOneRelation[CodePool]

    class Meta:
        table = "reward"
        indexes = (("tenant_id", "archived_at"),)


class MemberRewardUsage(Model):
    """How often a member redeemed a reward and when last: the guard for limit and cooldown."""

    id = fields.UUIDField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="reward_usage", on_delete=fields.CASCADE
    )
    reward: fields.ForeignKeyRelation[Reward] = fields.ForeignKeyField(
        "models.Reward", related_name="member_usage", on_delete=fields.CASCADE
    )
    redeemed_count = fields.IntField(default=0)
    last_redeemed_at = fields.DatetimeField(null=True)

    member_id: UUID
    reward_id: UUID

    class Meta:
        table = "member_reward_usage"
        unique_together = (("member", "reward"),)


class VoucherCodeStatus(StrEnum):
    FREE = "FREE"  # in the pool, may be drawn
    ASSIGNED = "ASSIGNED"  # drawn by a redemption
    BURNT = "BURNT"  # withdrawn by an admin: never handed out (again)


class CodePool(Model):
    """The unique codes a reward hands out (one pool per reward): a redemption draws one."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="code_pools", on_delete=fields.CASCADE
    )
    reward: fields.OneToOneRelation[Reward] = fields.OneToOneField(
        "models.Reward", related_name="code_pool", on_delete=fields.CASCADE
    )
    # `reward.low_stock` is sent when the free codes fall below it (null: never).
    low_stock_threshold = fields.IntField(null=True)
    # Set by the one redemption that sends `reward.low_stock`; cleared when codes come back
    # above the threshold, so each dip is announced once.
    low_stock_sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: UUID
    reward_id: UUID

    class Meta:
        table = "code_pool"


class VoucherCode(Model):
    # Sequential: codes are drawn and exported in upload order.
    id = fields.BigIntField(primary_key=True)
    pool: fields.ForeignKeyRelation[CodePool] = fields.ForeignKeyField(
        "models.CodePool", related_name="codes", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=100)
    expires_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(VoucherCodeStatus, max_length=16, default=VoucherCodeStatus.FREE)
    # The redemption that drew it (models.redemptions.tables.Redemption; by name, since
    # redemptions refer to rewards).
    redemption: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        "models.Redemption", related_name="voucher_codes", null=True, on_delete=fields.SET_NULL
    )
    assigned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    pool_id: UUID
    redemption_id: UUID | None

    class Meta:
        table = "voucher_code"
        unique_together = (("pool", "code"),)
        indexes = (("pool_id", "status", "id"), ("redemption_id",))
