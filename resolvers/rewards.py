"""Reward CRUD for admins, the catalog for members and backends."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry

from core import clock
from core.errors import DomainError, NotFound
from models.catalog import tables as m
from models.catalog.code_pools import codes_left
from models.catalog.eligibility import available_at, eligibility
from models.catalog.reads import live_catalog, rewards_for, with_stock
from models.catalog.rewards import (
    RewardFields,
    archive_reward,
    create_reward,
    delete_reward,
    update_reward,
)
from models.db.pagination import paginate, paginate_rows
from models.tenancy.facts import tenant_facts
from resolvers.auth import ADMIN, ANYONE, BACKEND, parse_id, require
from resolvers.errors import query_error
from schema.common import CatalogError, PageInfo, user_error
from schema.loaders import loaders
from schema.rewards import (
    CatalogConnection,
    CatalogItem,
    Reward,
    RewardConnection,
    RewardInput,
    RewardPayload,
)
from schema.tenants import DeletePayload

_RENAMED = {"point_definition_id": "definition_id"}
_ID_FIELDS = {"point_definition_id": "pointDefinitionId", "min_tier_id": "minTierId"}


def _fields(data: RewardInput) -> RewardFields:
    values: dict[str, Any] = {}
    for name, value in vars(data).items():
        if value is strawberry.UNSET:
            continue
        if name in _ID_FIELDS and value is not None:
            value = parse_id(value, _ID_FIELDS[name])
        values[_RENAMED.get(name, name)] = value
    return RewardFields(**values)


async def create_reward_(info: strawberry.Info, input: RewardInput) -> RewardPayload:
    principal = require(info, ADMIN)
    try:
        reward = await create_reward(principal.tenant_id, _fields(input))
    except DomainError as exc:
        return RewardPayload(errors=[user_error(CatalogError, exc)])
    return RewardPayload(reward=Reward.from_model(reward))


async def update_reward_(
    info: strawberry.Info, id: strawberry.ID, input: RewardInput
) -> RewardPayload:
    principal = require(info, ADMIN)
    try:
        reward = await update_reward(principal.tenant_id, parse_id(id, "id"), _fields(input))  # type: ignore[arg-type]
    except DomainError as exc:
        return RewardPayload(errors=[user_error(CatalogError, exc)])
    return RewardPayload(reward=Reward.from_model(reward))


async def archive_reward_(info: strawberry.Info, id: strawberry.ID) -> RewardPayload:
    principal = require(info, ADMIN)
    try:
        reward = await archive_reward(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return RewardPayload(errors=[user_error(CatalogError, exc)])
    return RewardPayload(reward=Reward.from_model(reward))


async def delete_reward_(info: strawberry.Info, id: strawberry.ID) -> DeletePayload:
    """A reward made by mistake, never redeemed; others are archived (archiveReward)."""
    principal = require(info, ADMIN)
    try:
        await delete_reward(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return DeletePayload(errors=[user_error(CatalogError, exc)])
    return DeletePayload(deleted=True)


async def rewards(
    info: strawberry.Info,
    first: int | None = None,
    after: str | None = None,
    include_archived: bool = False,
) -> RewardConnection:
    principal = require(info, BACKEND)
    query = rewards_for(principal.reader)
    if not include_archived:
        query = query.filter(archived_at__isnull=True)
    with query_error():
        page = await paginate(query, first, after)
    return RewardConnection(
        nodes=[Reward.from_model(r) for r in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


async def reward(info: strawberry.Info, id: strawberry.ID) -> Reward | None:
    principal = require(info, ANYONE)
    try:
        reward_id = parse_id(id, "id")
    except DomainError:
        return None
    found = await rewards_for(principal.reader).get_or_none(id=reward_id)
    return Reward.from_model(found) if found else None


# Per tenant, the live catalog's shared rows (models.catalog.reads.live_catalog, read only)
# and the schema object of each, by the row's identity: made once per read of the catalog
# from the database, not per request. A new read is a new tuple, which replaces the entry.
_made: dict[UUID, tuple[tuple[m.Reward, ...], dict[int, Reward]]] = {}


def _shown(tenant_id: UUID, catalog: tuple[m.Reward, ...], rewards: list[m.Reward]) -> list[Reward]:
    """The schema objects of `rewards`: those of the shared rows of `catalog` made once, any
    other row (a copy with the stock as it is now, `with_stock`) made anew."""
    entry = _made.get(tenant_id)
    if entry is None or entry[0] is not catalog:
        # Ids are safe keys: the entry keeps the rows alive, so no other object has their ids.
        entry = _made[tenant_id] = (catalog, {id(r): Reward.from_model(r) for r in catalog})
    made = entry[1]
    return [made.get(id(r)) or Reward.from_model(r) for r in rewards]


async def catalog(
    info: strawberry.Info,
    first: int | None = None,
    after: str | None = None,
    member_id: strawberry.ID | None = None,
) -> CatalogConnection:
    """Live rewards with, per reward, whether this member can redeem it now and why not."""
    principal = require(info, ANYONE)
    load = loaders(info)
    with query_error():
        # Whose view it is: the member named, else the member reading (whose own `me`
        # shares these reads); none for a backend that names no one.
        viewer = parse_id(member_id or None, "memberId") or principal.reader.member_id
        member = await load.member.load(viewer) if viewer else None
        if viewer and member is None:
            raise NotFound("Member not found", field="memberId")
        catalog = await live_catalog(principal.tenant_id)
        page = paginate_rows(catalog, first, after)
        rewards = page.items
        if any(r.stock is not None for r in rewards):  # cached: read the stock as it is
            rewards = with_stock(rewards, await load.stock.load(principal.tenant_id))
    shown = _shown(principal.tenant_id, catalog, rewards)
    now = clock.now()
    items = []
    if member is None:
        items = [CatalogItem(reward=reward, can_redeem=False, reason=None) for reward in shown]
    else:
        tiers = (await tenant_facts(principal.tenant_id)).tiers
        usage = await load.usage.load(member.id)
        accounts = await load.accounts.load(member.id)
        left = await codes_left(principal.tenant_id, [r.id for r in rewards], now)
        spendable = {
            view.account.definition_id: view.active
            for view in await load.account_view.load_many(accounts)
        }
        for r, reward in zip(rewards, shown, strict=True):
            reason = eligibility(
                r,
                tiers.get(member.tier_id) if member.tier_id else None,
                tiers.get(r.min_tier_id) if r.min_tier_id else None,
                usage.get(r.id),
                spendable.get(r.definition_id, 0),
                now,
                codes_left=left.get(r.id),
            )
            items.append(
                CatalogItem(
                    reward=reward,
                    can_redeem=reason is None,
                    reason=reason,
                    available_at=available_at(r, usage.get(r.id), reason, now),
                )
            )
    return CatalogConnection(
        nodes=items,
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )
