"""What live subscribers are told: redemption events and balance changes as messages.

Callers publish these after their transaction commits (core.broker); a client that was
away replays stored events after its cursor (`replay_redemption_events`).

A redemption message carries the event's `seq`: its place in the tenant's commit order
(stamped when the writing transaction commits, migration 0010), dense, and such that every
smaller number is already committed. Event ids are taken at INSERT and do not follow
commits across processes, so streams order, resume and fill gaps by `seq`; `eventId`
stays the event's id, and a client's cursor (the last `eventId` it was given) is turned
into the `seq` of that event.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from tortoise.queryset import QuerySet

from core import clock
from core.broker import balances_channel, redemptions_channel
from models.db.params import query
from models.members.tables import Member
from models.pointmaster.modes import effective_mode
from models.points.grants import account_view
from models.points.tables import PointAccount
from models.redemptions.tables import Redemption, RedemptionEvent
from models.tenancy.facts import tenant_facts
from models.tenancy.tables import PointMode


class LiveBroker(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    async def listening(self, channel: str) -> bool: ...


REPLAY_LIMIT = 1000


def _snapshot(r: Redemption) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "tenant_id": str(r.tenant_id),
        "member_id": str(r.member_id),
        "reward_id": str(r.reward_id),
        "definition_id": str(r.definition_id),
        "quantity": r.quantity,
        "points_spent": r.points_spent,
        "status": r.status,
        "fulfillment_data": r.fulfillment_data,
        "reason": r.reason,
        "refunded_at": r.refunded_at.isoformat() if r.refunded_at else None,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


def redemption_message(redemption: Redemption, event: RedemptionEvent) -> dict[str, Any]:
    return {
        "eventId": event.id,
        "memberId": str(redemption.member_id),
        "rewardId": str(redemption.reward_id),
        "event": {
            "id": event.id,
            "kind": event.kind,
            "message": event.message,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "data": event.data,
            "actor": event.actor,
            "created_at": event.created_at.isoformat(),
        },
        "redemption": _snapshot(redemption),
    }


def redemption_from_message(message: dict[str, Any]) -> tuple[Redemption, RedemptionEvent]:
    """Unsaved model instances rebuilt from a message, for the GraphQL types."""
    snap = dict(message["redemption"])
    for key in ("created_at", "updated_at", "refunded_at"):
        snap[key] = datetime.fromisoformat(snap[key]) if snap[key] else None
    event = dict(message["event"])
    event["created_at"] = datetime.fromisoformat(event["created_at"])
    event["tenant_id"] = snap["tenant_id"]
    event["redemption_id"] = snap["id"]
    return Redemption(**snap), RedemptionEvent(**event)


async def announce_redemption(
    broker: LiveBroker, tenant_id: UUID, redemption_id: UUID, since: datetime
) -> None:
    """Publish the redemption's events written at or after `since` (this operation's)."""
    channel = redemptions_channel(tenant_id)
    if not await broker.listening(channel):
        return
    # The reads at once: this runs between a commit and its subscribers' receipt.
    redemption, events, numbers = await asyncio.gather(
        Redemption.get_or_none(id=redemption_id, tenant_id=tenant_id),
        RedemptionEvent.filter(
            redemption_id=redemption_id, tenant_id=tenant_id, created_at__gte=since
        ),
        _numbers_of_redemption(tenant_id, redemption_id),
    )
    if redemption is None:
        return
    for event in sorted(events, key=lambda e: numbers.get(e.id, 0)):
        await broker.publish(channel, _numbered(redemption_message(redemption, event), numbers))


async def replay_redemption_events(
    tenant_id: UUID,
    after: int,
    member_id: UUID | None = None,
    upto: int | None = None,
) -> list[dict[str, Any]]:
    """Stored events numbered after `after` (and up to `upto`), in commit order, as the
    live messages were; at most REPLAY_LIMIT of them."""
    numbers = await _numbers_after(tenant_id, after, member_id, upto)
    events = await RedemptionEvent.filter(tenant_id=tenant_id, id__in=list(numbers))
    redemptions = {
        r.id: r
        for r in await Redemption.filter(
            tenant_id=tenant_id, id__in={e.redemption_id for e in events}
        )
    }
    events.sort(key=lambda e: numbers[e.id])
    return [_numbered(redemption_message(redemptions[e.redemption_id], e), numbers) for e in events]


async def latest_number(tenant_id: UUID) -> int:
    """The tenant's last committed event number (0 before any): everything up to it is
    readable now, everything after it commits later."""
    rows = await _query('SELECT MAX("seq") AS n FROM "{events}" WHERE "tenant_id" = {}', tenant_id)
    return int(rows[0]["n"] or 0) if rows else 0


async def number_of(tenant_id: UUID, event_id: int) -> int:
    """The number of the tenant's event `event_id` (a client's cursor). For an id that is
    not one of the tenant's events: the number of its latest event with a smaller id (0 if
    none), which is where the cursor stood before events were numbered by commit."""
    rows = await _query(
        'SELECT "seq" FROM "{events}" WHERE "tenant_id" = {} AND "id" = {}',
        tenant_id,
        event_id,
    )
    if rows and rows[0]["seq"] is not None:
        return int(rows[0]["seq"])
    rows = await _query(
        'SELECT MAX("seq") AS n FROM "{events}" WHERE "tenant_id" = {} AND "id" < {}',
        tenant_id,
        event_id,
    )
    return int(rows[0]["n"] or 0) if rows else 0


def _numbered(message: dict[str, Any], numbers: dict[int, int]) -> dict[str, Any]:
    message["seq"] = numbers.get(message["eventId"])
    return message


async def _numbers_of_redemption(tenant_id: UUID, redemption_id: UUID) -> dict[int, int]:
    rows = await _query(
        'SELECT "id", "seq" FROM "{events}" WHERE "tenant_id" = {} '
        'AND "redemption_id" = {} AND "seq" IS NOT NULL',
        tenant_id,
        redemption_id,
    )
    return {int(r["id"]): int(r["seq"]) for r in rows}


async def _numbers_after(
    tenant_id: UUID, after: int, member_id: UUID | None, upto: int | None
) -> dict[int, int]:
    """id -> number of the events numbered after `after`, lowest first, a page of them."""
    sql = 'SELECT e."id", e."seq" FROM "{events}" AS e '
    values: list[object] = []
    if member_id is not None:
        sql += 'JOIN "{redemptions}" AS r ON r."id" = e."redemption_id" AND r."member_id" = {} '
        values.append(member_id)
    sql += 'WHERE e."tenant_id" = {} AND e."seq" > {} '
    values += [tenant_id, after]
    if upto is not None:
        sql += 'AND e."seq" <= {} '
        values.append(upto)
    sql += 'ORDER BY e."seq" LIMIT {}'
    values.append(REPLAY_LIMIT)
    rows = await _query(sql, *values)
    return {int(r["id"]): int(r["seq"]) for r in rows}


async def _query(sql: str, *values: object) -> list[dict[str, Any]]:
    """models.db.params.query with `{events}` / `{redemptions}` for the tables. `seq` is not
    a field of the model: the database stamps it, so no save can write it back."""
    return await query(
        sql,
        *values,
        events=RedemptionEvent._meta.db_table,
        redemptions=Redemption._meta.db_table,
    )


async def announce_members_balances(
    broker: LiveBroker, tenant_id: UUID, member_ids: set[UUID]
) -> None:
    """The balances of several members of one tenant (e.g. after the points cron)."""
    if member_ids and await broker.listening(balances_channel(tenant_id)):
        await _publish_balances(
            broker,
            tenant_id,
            PointAccount.filter(tenant_id=tenant_id, member_id__in=sorted(member_ids)),
        )


async def _publish_balances(
    broker: LiveBroker, tenant_id: UUID, accounts: QuerySet[PointAccount]
) -> None:
    """One message per account; the accounts and their definitions in one read, the
    tenant's mode at most once (for the definitions that follow it)."""
    found = await accounts.select_related("definition").order_by("member_id", "id")
    tenant_mode = PointMode.MASTER  # only read by definitions that follow their tenant
    if any(a.definition.point_mode is None for a in found):
        tenant_mode = (await tenant_facts(tenant_id)).point_mode
    now = clock.now()
    tiers = await _tiers_of(tenant_id, {a.member_id for a in found})
    for account in found:
        view = await account_view(account, now)
        # FOLLOWER_BALANCE: the master sends totals only; what needs history is null, as
        # on the account in queries.
        at_master = effective_mode(account.definition, tenant_mode) == PointMode.FOLLOWER_BALANCE
        await broker.publish(
            balances_channel(tenant_id),
            {
                "memberId": str(account.member_id),
                "accountId": str(account.id),
                "definitionId": str(account.definition_id),
                "balance": view.active,
                "pending": None if at_master else view.pending,
                "expiringSoon": None if at_master else view.expiring_soon,
                "historyAtMaster": at_master,
                "tier": tiers.get(account.member_id),
                "at": now.isoformat(),
            },
        )


async def _tiers_of(tenant_id: UUID, member_ids: set[UUID]) -> dict[UUID, dict[str, Any]]:
    """The members' tiers as balance messages carry them (a tier change is announced as
    a balances message: the widget shows both)."""
    if not member_ids:
        return {}
    rows = await Member.filter(
        tenant_id=tenant_id, id__in=sorted(member_ids), tier_id__isnull=False
    ).values("id", "tier_id", "tier__name", "tier__rank")
    return {
        UUID(str(r["id"])): {
            "id": str(r["tier_id"]),
            "name": r["tier__name"],
            "rank": r["tier__rank"],
        }
        for r in rows
    }
