"""What a caller may read of the reward catalog (models.tenancy.readers).

Backends and admins read all the tenant's rewards; a member token the live catalog only
(enabled, not archived). A reward named by a row the caller reads (its redemption) stays
readable after it is archived: `rewards_by_id` answers those.

The live catalog is what every widget load reads, and admins rarely change it: it is
cached per tenant on each API process (core.cache), dropped everywhere when a reward is
created, changed, archived or deleted (`catalog_changed`). Only the stock moves with
every redemption: it is read as it is now (`live_stock`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from uuid import UUID

from tortoise import connections
from tortoise.queryset import QuerySet

from core.cache import TenantCache, following, invalidate
from models.catalog.tables import CodePool, MemberRewardUsage, Reward
from models.db.batches import by_ids
from models.db.params import query
from models.db.plain_reads import model_of, tenant_row, with_related
from models.members.tables import Member
from models.points.tables import PointDefinition
from models.tenancy.readers import Reader
from models.tenancy.tables import Tenant


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


TO_REDEEM = """
SELECT r AS "_reward", d AS "_definition", t AS "_tenant", p AS "_code_pool", m AS "_member"
FROM (VALUES (1)) AS one (x)
LEFT JOIN reward r ON r.tenant_id = $1 AND r.id = $2
LEFT JOIN point_definition d ON d.id = r.definition_id
LEFT JOIN tenant t ON t.id = r.tenant_id
LEFT JOIN code_pool p ON p.reward_id = r.id
LEFT JOIN member m ON m.tenant_id = $1 AND m.id = $3
"""
"""`reward_to_redeem`'s statement on PostgreSQL: $1 the tenant, $2 the reward, $3 the member."""


async def reward_to_redeem(
    tenant_id: UUID, reward_id: UUID, member_id: UUID | None = None
) -> tuple[Reward | None, Member | None]:
    """The reward with its currency, tenant and code pool (None without one): what a
    redemption needs of it; and the member `member_id` when given, read along (each None
    when the tenant has no such row). On PostgreSQL one statement of fixed text
    (models.db.plain_reads), the rows as row values; elsewhere Tortoise's `select_related`
    and a read of the member."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        reward = (
            await Reward.filter(id=reward_id, tenant_id=tenant_id)
            .select_related("definition", "tenant", "code_pool")
            .first()
        )
        member = await tenant_row(Member, tenant_id, member_id) if member_id else None
        return reward, member
    row = (await conn.execute_query_dict(TO_REDEEM, [tenant_id, reward_id, member_id]))[0]
    member = None if row["_member"] is None else model_of(Member, row["_member"])
    if row["_reward"] is None:
        return None, member
    reward = with_related(
        model_of(Reward, row["_reward"]),
        definition=(PointDefinition, row["_definition"]),
        tenant=(Tenant, row["_tenant"]),
        code_pool=(CodePool, row["_code_pool"]),
    )
    return reward, member


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
    Shared rows, read only; their stock is as it was when read (`live_stock`)."""
    return await LIVE.get(tenant_id, lambda: _load_live(tenant_id))


# Per tenant, the cached catalog's rows by id, made once per read of the catalog (a new
# read is a new tuple, which replaces the entry).
_by_id: dict[UUID, tuple[tuple[Reward, ...], dict[UUID, Reward]]] = {}


async def cached_live_reward(tenant_id: UUID, reward_id: UUID) -> Reward | None:
    """The live reward `reward_id` as the cached catalog holds it (a shared row, read only;
    its stock as it was when read). None when it is not live, and without a read of the
    database when this process's caches do not serve (core.cache.following): the caller
    then reads the reward itself."""
    if not following():
        return None
    catalog = await live_catalog(tenant_id)
    entry = _by_id.get(tenant_id)
    if entry is None or entry[0] is not catalog:
        entry = _by_id[tenant_id] = (catalog, {reward.id: reward for reward in catalog})
    return entry[1].get(reward_id)


async def _load_live(tenant_id: UUID) -> tuple[Reward, ...]:
    rows = await live_rewards_for(Reader(tenant_id)).order_by("-created_at", "-id")
    return tuple(rows)


LIVE_STOCKED = "archived_at IS NULL AND enabled AND stock IS NOT NULL"
"""Which rows of `reward` are live rewards with a stock (for a statement's WHERE)."""


async def live_stock(tenant_id: UUID) -> dict[UUID, int]:
    """The stock of each live reward that has one, as it is now."""
    rows = await query(
        f"SELECT id, stock FROM reward WHERE tenant_id = {{}} AND {LIVE_STOCKED}", tenant_id
    )
    return {UUID(str(row["id"])): row["stock"] for row in rows}


def with_stock(rewards: Sequence[Reward], stock: Mapping[UUID, int]) -> list[Reward]:
    """`rewards` (cached rows) with the stock they have now (`live_stock`): a reward with
    a stock is copied with it; the others are the same rows."""
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
