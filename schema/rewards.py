"""Reward catalog types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON

from models.catalog import tables as m
from models.catalog.code_pools import pool_stats
from models.catalog.eligibility import Ineligibility
from schema.code_pools import CodePool
from schema.common import CatalogError, PageInfo, is_member
from schema.loaders import loaders, present

if TYPE_CHECKING:
    from schema.points import PointDefinition
    from schema.tenants import Tier

RewardType = strawberry.enum(m.RewardType, name="RewardType")
RedeemBlockReason = strawberry.enum(Ineligibility, name="RedeemBlockReason")


@strawberry.type
class Reward:
    id: strawberry.ID
    name: str
    description: str
    type: RewardType  # type: ignore[valid-type]
    value: str
    point_cost: int
    stock: int | None
    low_stock_threshold: int | None = strawberry.field(
        description="A reward.low_stock webhook when the stock falls below this"
    )
    cooldown_seconds: int | None
    per_member_limit: int | None
    available_from: datetime | None
    available_until: datetime | None
    public_data: JSON | None = strawberry.field(
        description="What members may read about the reward (terms, instructions)"
    )
    image_url: str | None
    enabled: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    model: strawberry.Private[m.Reward]

    @strawberry.field(
        description="Data for the tenant's fulfilment backend; null for member tokens"
    )
    def fulfillment_data(self, info: strawberry.Info) -> JSON | None:
        if is_member(info):
            return None
        return cast(JSON, self.model.fulfillment_data)

    @strawberry.field(
        description="Its voucher code pool and counts; null without one, and for member tokens"
    )
    async def code_pool(self, info: strawberry.Info) -> CodePool | None:
        if is_member(info):
            return None
        pool = await m.CodePool.get_or_none(reward_id=self.model.id, tenant_id=self.model.tenant_id)
        return CodePool.from_model(pool, await pool_stats(pool)) if pool else None

    @strawberry.field
    async def point_definition(
        self, info: strawberry.Info
    ) -> Annotated[PointDefinition, strawberry.lazy("schema.points")]:
        from schema.points import PointDefinition

        found = await loaders(info).definition.load(self.model.definition_id)
        return PointDefinition.from_model(
            present(found, "point definition", self.model.definition_id)
        )

    @strawberry.field
    async def min_tier(
        self, info: strawberry.Info
    ) -> Annotated[Tier, strawberry.lazy("schema.tenants")] | None:
        from schema.tenants import Tier

        if self.model.min_tier_id is None:
            return None
        tier = await loaders(info).tier.load(self.model.min_tier_id)
        return Tier.from_model(tier) if tier else None

    @classmethod
    def from_model(cls, r: m.Reward) -> Reward:
        return cls(
            id=strawberry.ID(str(r.id)),
            name=r.name,
            description=r.description,
            type=m.RewardType(r.type),
            value=r.value,
            point_cost=r.point_cost,
            stock=r.stock,
            low_stock_threshold=r.low_stock_threshold,
            cooldown_seconds=r.cooldown_seconds,
            per_member_limit=r.per_member_limit,
            available_from=r.available_from,
            available_until=r.available_until,
            public_data=cast(JSON, r.public_data),
            image_url=r.image_url,
            enabled=r.enabled,
            archived_at=r.archived_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
            model=r,
        )


@strawberry.type
class RewardConnection:
    nodes: list[Reward]
    page_info: PageInfo


@strawberry.type
class CatalogItem:
    reward: Reward
    can_redeem: bool
    reason: RedeemBlockReason | None  # type: ignore[valid-type]
    available_at: datetime | None = strawberry.field(
        default=None,
        description="When it becomes redeemable again by itself: the end of a COOLDOWN, or "
        "the start of the availability window (NOT_AVAILABLE); null otherwise",
    )


@strawberry.type
class CatalogConnection:
    nodes: list[CatalogItem]
    page_info: PageInfo


@strawberry.input
class RewardInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    type: RewardType | None = strawberry.UNSET  # type: ignore[valid-type]
    value: str | None = strawberry.UNSET
    point_cost: int | None = strawberry.UNSET
    point_definition_id: strawberry.ID | None = strawberry.UNSET
    stock: int | None = strawberry.UNSET
    low_stock_threshold: int | None = strawberry.UNSET
    min_tier_id: strawberry.ID | None = strawberry.UNSET
    cooldown_seconds: int | None = strawberry.UNSET
    per_member_limit: int | None = strawberry.UNSET
    available_from: datetime | None = strawberry.UNSET
    available_until: datetime | None = strawberry.UNSET
    fulfillment_data: JSON | None = strawberry.UNSET
    public_data: JSON | None = strawberry.UNSET
    image_url: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class RewardPayload:
    reward: Reward | None = None
    errors: list[CatalogError] = strawberry.field(default_factory=list)
