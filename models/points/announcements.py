"""Points events for the tenant's webhooks: postings (earned, spent, refunded, adjusted,
expired) and points about to expire.

Postings are announced from the two places that write ledger entries (ledger.post_entry,
bulk_postings.AccountBook.write), in their transaction; a tenant without an endpoint that
wants the event pays one query and no body building.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from models.db.transactions import atomic
from models.members.tables import Member
from models.points.tables import GrantStatus, LedgerEntry, PointAccount, PointGrant
from models.tenancy.tables import Tenant
from models.webhooks.catalogue import points_event, points_expiring_soon, points_posted
from models.webhooks.outbox import Announcement, announce, subscribers
from models.webhooks.tables import PayloadFormat, WebhookEndpoint, WebhookEvent


async def entry_posted(conn: BaseDBAsyncClient, account: PointAccount, entry: LedgerEntry) -> None:
    """Outbox rows for one posting."""
    member: list[Member] = []

    async def payload_for(_fmt: PayloadFormat) -> dict[str, Any]:
        if not member:
            member.append(await Member.get(id=account.member_id, using_db=conn))
        return points_posted(entry, account, member[0], entry.created_at)

    event = points_event(entry.source, entry.amount)
    await announce(
        conn, account.tenant_id, [Announcement(event.value, payload_for)], now=entry.created_at
    )


async def entries_posted(
    conn: BaseDBAsyncClient, rows: list[dict[str, Any]], accounts: dict[UUID, PointAccount]
) -> None:
    """Outbox rows for a chunk's postings (ledger_entry rows as inserted): the endpoints
    read once per tenant, the members once for the chunk, and only if some endpoint wants
    one of the chunk's events."""
    by_tenant: dict[UUID, list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        event = points_event(row["source"], row["amount"]).value
        by_tenant.setdefault(row["tenant_id"], []).append((event, row))
    for tenant_id, posted in by_tenant.items():
        endpoints = await subscribers(conn, tenant_id, {event for event, _ in posted})
        if not endpoints:
            continue
        wanted = [(e, row) for e, row in posted if any(e in ep.events for ep in endpoints)]
        member_ids = {accounts[row["account_id"]].member_id for _, row in wanted}
        members = {m.id: m for m in await Member.filter(id__in=member_ids).using_db(conn)}
        items = []
        for event, row in wanted:
            account = accounts[row["account_id"]]
            body = points_posted(
                LedgerEntry(**row), account, members[account.member_id], row["created_at"]
            )
            items.append(Announcement(event, _fixed(body)))
        await announce(conn, tenant_id, items, endpoints=endpoints)


def _fixed(body: dict[str, Any]) -> Any:
    return lambda _fmt: body


async def warn_expiring(now: datetime | None = None, limit: int = 1000) -> int:
    """Points cron: a `points.expiring_soon` event for each unspent expiring grant that
    expires within its tenant's `points_expiring_soon_days`, once per grant (marked in
    the transaction that writes it). Only tenants with an endpoint that wants the event are
    looked at; their other grants wait for an endpoint that does. Returns how many were sent."""
    now = now or clock.now()
    event = WebhookEvent.POINTS_EXPIRING_SOON.value
    wanting: set[UUID] = set()
    for tenant_id, events in await WebhookEndpoint.filter(enabled=True).values_list(
        "tenant_id", "events"
    ):
        if event in events:
            wanting.add(UUID(str(tenant_id)))
    sent = 0
    for tenant in await Tenant.filter(id__in=wanting):
        window = now + timedelta(days=tenant.points_expiring_soon_days)
        grants = await PointGrant.filter(
            tenant_id=tenant.id,
            status=GrantStatus.ACTIVE,
            remaining__gt=0,
            expiry_warned_at__isnull=True,
            valid_to__gt=now,
            valid_to__lte=window,
        ).limit(limit)
        if grants:
            sent += await _warn(tenant.id, grants, now)
    return sent


async def _warn(tenant_id: UUID, grants: list[PointGrant], now: datetime) -> int:
    event = WebhookEvent.POINTS_EXPIRING_SOON.value
    async with atomic() as conn:
        endpoints = await subscribers(conn, tenant_id, {event})
        if not endpoints:
            return 0
        claimed = await _claim(conn, [g.id for g in grants], now)
        grants = [g for g in grants if g.id in claimed]
        accounts = {
            a.id: a
            for a in await PointAccount.filter(id__in={g.account_id for g in grants}).using_db(conn)
        }
        members = {
            m.id: m
            for m in await Member.filter(id__in={a.member_id for a in accounts.values()}).using_db(
                conn
            )
        }
        items = []
        for grant in grants:
            account = accounts[grant.account_id]
            body = points_expiring_soon(grant, account, members[account.member_id], now)
            items.append(Announcement(event, _fixed(body)))
        await announce(conn, tenant_id, items, now=now, endpoints=endpoints)
    return len(items)


async def _claim(conn: BaseDBAsyncClient, grant_ids: list[UUID], now: datetime) -> set[UUID]:
    """Mark the grants warned; those another run marked first are not ours to send."""
    claimed = set()
    for grant_id in grant_ids:
        if (
            await PointGrant.filter(id=grant_id, expiry_warned_at__isnull=True)
            .using_db(conn)
            .update(expiry_warned_at=now)
        ):
            claimed.add(grant_id)
    return claimed
