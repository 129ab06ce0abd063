"""Rows for tests, created through the domain functions where one exists."""

from __future__ import annotations

import itertools
from typing import Any
from uuid import UUID

from models.catalog.rewards import RewardFields, create_reward
from models.catalog.tables import Reward, RewardType
from models.members.tables import Member, Tier
from models.members.upserts import save_tier, upsert_member
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource, PointDefinition
from models.tenancy.access import NewTenant, create_tenant

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


async def make_tenant(slug: str | None = None) -> NewTenant:
    n = next(_seq)
    slug = slug or f"tenant-{n}"
    return await create_tenant(f"Tenant {n}", slug, f"admin@{slug}.test", PASSWORD)


async def default_definition(tenant_id: UUID) -> PointDefinition:
    return await PointDefinition.get(tenant_id=tenant_id, is_default=True)


async def make_member(
    tenant_id: UUID, points: int = 0, tier: Tier | None = None, **fields: Any
) -> Member:
    n = next(_seq)
    fields.setdefault("email", f"member{n}@example.com")
    fields.setdefault("name", f"Member {n}")
    member, _ = await upsert_member(
        tenant_id, f"ext-{n}", tier_id=tier.id if tier else None, **fields
    )
    if points:
        await award_points(
            AwardRequest(
                tenant_id=tenant_id,
                member_id=member.id,
                definition_id=None,
                amount=points,
                source=LedgerSource.PURCHASE,
                description="test points",
            )
        )
    return member


async def make_reward(tenant_id: UUID, **fields: Any) -> Reward:
    fields.setdefault("name", f"Reward {next(_seq)}")
    fields.setdefault("type", RewardType.VOUCHER)
    fields.setdefault("point_cost", 100)
    fields.setdefault("value", "50000")
    return await create_reward(tenant_id, RewardFields(**fields))


async def make_tier(tenant_id: UUID, name: str, rank: int) -> Tier:
    return await save_tier(tenant_id, None, name, rank)
