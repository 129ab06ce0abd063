"""What a caller may read of points (models.tenancy.readers): currencies, accounts, the
ledger and grants of the tenant; a member token only its own accounts, entries and
grants. Batches for the schema's loaders: accounts by member, views, grants by account."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from tortoise.queryset import QuerySet

from core import clock
from models.db.batches import grouped
from models.points.grants import OPEN_GRANTS, AccountView, needs_grants, view_of
from models.points.tables import GrantStatus, LedgerEntry, PointAccount, PointDefinition, PointGrant
from models.tenancy.facts import tenant_facts
from models.tenancy.readers import Reader


def definitions_for(reader: Reader) -> QuerySet[PointDefinition]:
    """The tenant's currencies: every caller of the tenant reads them."""
    return PointDefinition.filter(tenant_id=reader.tenant_id)


def accounts_for(reader: Reader) -> QuerySet[PointAccount]:
    query = PointAccount.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(member_id=reader.member_id)
    return query


def ledger_for(reader: Reader) -> QuerySet[LedgerEntry]:
    query = LedgerEntry.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(account__member_id=reader.member_id)
    return query


def grants_for(reader: Reader) -> QuerySet[PointGrant]:
    query = PointGrant.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(account__member_id=reader.member_id)
    return query


async def definitions_by_id(reader: Reader, ids: Sequence[UUID]) -> list[PointDefinition | None]:
    """From the tenant's cached facts (models.tenancy.facts): shared rows, read only."""
    definitions = (await tenant_facts(reader.tenant_id)).definitions
    return [definitions.get(i) for i in ids]


async def accounts_by_member(
    reader: Reader, member_ids: Sequence[UUID]
) -> list[list[PointAccount]]:
    """Each member's accounts, oldest first."""
    return await grouped(accounts_for(reader).order_by("created_at"), "member_id", member_ids)


async def account_views(
    reader: Reader, accounts: Sequence[PointAccount], now: datetime | None = None
) -> list[AccountView]:
    """models.points.grants.account_view of each account, the grants read in one statement."""
    now = now or clock.now()
    due = [a.id for a in accounts if needs_grants(a, now)]
    open_grants: dict[UUID, list[PointGrant]] = defaultdict(list)
    if due:
        for grant in await grants_for(reader).filter(account_id__in=due, status__in=OPEN_GRANTS):
            open_grants[grant.account_id].append(grant)
    return [view_of(a, open_grants.get(a.id, []), now) for a in accounts]


GrantsKey = tuple[UUID, tuple[GrantStatus, ...]]  # account id, statuses (all when empty)


async def grants_by_account(
    reader: Reader, keys: Sequence[GrantsKey], limit: int
) -> list[list[PointGrant]]:
    """The first `limit` grants (oldest first) of each account, of the statuses asked.

    One statement per set of statuses reads up to `limit` grants per account asked; only
    when that read was cut short, an account that got fewer than `limit` is read again alone
    (its later grants may lie past the cut)."""
    found: dict[GrantsKey, list[PointGrant]] = {}
    by_statuses: dict[tuple[GrantStatus, ...], list[UUID]] = defaultdict(list)
    for account_id, statuses in dict.fromkeys(keys):
        by_statuses[statuses].append(account_id)
    for statuses, account_ids in by_statuses.items():
        query = grants_for(reader)
        if statuses:
            query = query.filter(status__in=statuses)
        cap = limit * len(account_ids)
        rows = (
            await query.filter(account_id__in=account_ids)
            .order_by("created_at", "id")
            .limit(cap + 1)
        )
        groups: dict[UUID, list[PointGrant]] = defaultdict(list)
        for grant in rows[:cap]:
            groups[grant.account_id].append(grant)
        for account_id in account_ids:
            grants = groups.get(account_id, [])
            if len(rows) > cap and len(grants) < limit:
                grants = (
                    await query.filter(account_id=account_id)
                    .order_by("created_at", "id")
                    .limit(limit)
                )
            found[(account_id, statuses)] = grants[:limit]
    return [found[k] for k in keys]
