"""What a caller may read of the reward catalog (models.tenancy.readers).

Backends and admins read all the tenant's rewards; a member token the live catalog only
(enabled, not archived). A reward named by a row the caller reads (its redemption) stays
readable after it is archived: `rewards_by_id` answers those.

The live catalog is what every widget load reads, and admins rarely change it: it is
cached per tenant on each API process (core.cache), dropped everywhere when a reward is
created, changed, archived or deleted (`catalog_changed`). Only the stock moves with
every redemption: it is read as it is now (`with_current_stock`)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from core.cache import TenantCache, invalidate
from models.catalog.tables import MemberRewardUsage, Reward
from models.db.batches import by_ids
from models.db.params import query
from models.tenancy.readers import Reader


def live_rewards_for(reader: Reader) -> QuerySet[Reward]:
    """The catalog: what can be redeemed (or could, but for the member's own limits)."""
    return Reward.filter(tenant_id=reader.tenant_id, archived_at__isnull=True, enabled=True)


def rewards_for(reader: Reader) -> QuerySet[Reward]:
    if reader.is_member:
        return live_rewards_for(reader)
    return Reward.filter(tenant_id=reader.tenant_id)


async def rewards_by_id(reader: Reader, ids: Sequence[UUID]) -> list[Reward | None]:
    """Rewards as other rows the caller reads name them (archived ones included)."""
    return await by_ids(Reward.filter(tenant_id=reader.tenant_id), ids)


async def usage_by_member(
    reader: Reader, member_ids: Sequence[UUID]
) -> list[dict[UUID, MemberRewardUsage]]:
    """Each member's use of rewards (limit and cooldown), by reward id."""
    usage = MemberRewardUsage.filter(member__tenant_id=reader.tenant_id, member_id__in=member_ids)
    if reader.member_id is not None:
        usage = usage.filter(member_id=reader.member_id)
    found: dict[UUID, dict[UUID, MemberRewardUsage]] = {i: {} for i in member_ids}
    for row in await usage:
        found[row.member_id][row.reward_id] = row
    return [found[i] for i in member_ids]


LIVE: TenantCache[tuple[Reward, ...]] = TenantCache("live-catalog")


async def live_catalog(tenant_id: UUID) -> tuple[Reward, ...]:
    """The tenant's live rewards in the catalog's order (newest first, as `paginate`).
    Shared rows, read only; their stock is as it was when read (`with_current_stock`)."""
    return await LIVE.get(tenant_id, lambda: _load_live(tenant_id))


async def _load_live(tenant_id: UUID) -> tuple[Reward, ...]:
    rows = await live_rewards_for(Reader(tenant_id)).order_by("-created_at", "-id")
    return tuple(rows)


async def with_current_stock(tenant_id: UUID, rewards: Sequence[Reward]) -> list[Reward]:
    """`rewards` (cached rows) with the stock they have now: a reward with a stock is
    copied with it, one statement for them all; the others are the same rows."""
    stocked = [r.id for r in rewards if r.stock is not None]
    if not stocked:
        return list(rewards)
    rows = await query(
        "SELECT id, stock FROM reward WHERE tenant_id = {} AND archived_at IS NULL"
        " AND enabled AND stock IS NOT NULL",
        tenant_id,
    )
    stock = {UUID(str(row["id"])): row["stock"] for row in rows}
    current = []
    for reward in rewards:
        if reward.stock is not None and reward.id in stock:
            reward = copy.copy(reward)
            reward.stock = stock[reward.id]
        current.append(reward)
    return current


def catalog_changed(tenant_id: UUID) -> None:
    """After commit, every API process reads the tenant's live catalog anew."""
    invalidate(LIVE, tenant_id)
