"""Pending and expiring points: activation at valid-from, expiry at valid-to.

Grants are settled by the worker's cron and, on demand, by any posting on the account
(so a spend never counts expired points nor waits for the cron to activate due ones).
Reads compute the settled view without writing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.functions import Min

from core import clock
from models.db.guarded_updates import guarded_add
from models.db.transactions import atomic
from models.points.ledger import lock_account, post_entry
from models.points.tables import GrantStatus, LedgerSource, PointAccount, PointGrant

EXPIRING_SOON = timedelta(days=30)
MAX_SETTLE_FAILURES = 3  # cron runs (a minute apart) before a grant is FAILED
log = logging.getLogger(__name__)


async def settle_account(conn: BaseDBAsyncClient, account: PointAccount, now: datetime) -> None:
    """Activate due pending grants and expire due ones. Caller holds the account lock."""
    if account.next_settle_at is None or account.next_settle_at > now:
        return
    due = (
        await PointGrant.filter(
            account_id=account.id,
            status__in=[GrantStatus.PENDING, GrantStatus.ACTIVE],
            due_at__lte=now,
        )
        .using_db(conn)
        .order_by("due_at")
    )
    for grant in due:
        if grant.status == GrantStatus.PENDING:
            await _activate(conn, account, grant, now)
        if grant.status == GrantStatus.ACTIVE and grant.valid_to and grant.valid_to <= now:
            await _expire(conn, account, grant, now)
    next_due = (
        await PointGrant.filter(
            account_id=account.id,
            status__in=[GrantStatus.PENDING, GrantStatus.ACTIVE],
            due_at__isnull=False,
        )
        .using_db(conn)
        .annotate(next_due=Min("due_at"))
        .values_list("next_due", flat=True)
    )
    account.next_settle_at = next_due[0] if next_due else None  # type: ignore[assignment]
    await (
        PointAccount.filter(id=account.id)
        .using_db(conn)
        .update(next_settle_at=account.next_settle_at)
    )


async def _activate(
    conn: BaseDBAsyncClient, account: PointAccount, grant: PointGrant, now: datetime
) -> None:
    expiring = grant.valid_to is not None
    changed = (
        await PointGrant.filter(id=grant.id, status=GrantStatus.PENDING)
        .using_db(conn)
        .update(
            status=GrantStatus.ACTIVE,
            remaining=grant.amount if expiring else 0,
            due_at=grant.valid_to,
        )
    )
    if not changed:
        return
    await guarded_add(conn, PointAccount, "pending", account.id, -grant.amount)
    account.pending -= grant.amount
    await post_entry(
        conn,
        account,
        grant.amount,
        grant.source,
        description=grant.description,
        actor=grant.actor,
        valid_from=grant.valid_from,
        valid_to=grant.valid_to,
        at=now,
        source_name=grant.source_name,
    )
    grant.status = GrantStatus.ACTIVE
    grant.remaining = grant.amount if expiring else 0


async def _expire(
    conn: BaseDBAsyncClient, account: PointAccount, grant: PointGrant, now: datetime
) -> None:
    changed = (
        await PointGrant.filter(id=grant.id, status=GrantStatus.ACTIVE, remaining=grant.remaining)
        .using_db(conn)
        .update(status=GrantStatus.EXPIRED, due_at=None)
    )
    if not changed or grant.remaining == 0:
        return
    entry = await post_entry(
        conn,
        account,
        -grant.remaining,
        LedgerSource.EXPIRY,
        description=f"Expired: {grant.description}".strip(),
        at=now,
    )
    if entry is None:  # cannot happen while unspent expiring points <= balance
        raise RuntimeError(f"expiry of grant {grant.id} would overdraw account {account.id}")


@dataclass(frozen=True)
class Settled:
    grants: int
    members: frozenset[tuple[UUID, UUID]]  # (tenant id, member id) whose points moved


async def settle_due(now: datetime | None = None, limit: int = 500) -> Settled:
    """Worker entry: settle every account that has a grant due; says whose points moved."""
    now = now or clock.now()
    members: set[tuple[UUID, UUID]] = set()
    due = (
        await PointGrant.filter(
            status__in=[GrantStatus.PENDING, GrantStatus.ACTIVE], due_at__lte=now
        )
        .limit(limit)
        .values_list("account_id", flat=True)
    )
    settled = 0
    for account_id in dict.fromkeys(due):
        try:
            async with atomic() as conn:
                account = await PointAccount.filter(id=account_id).select_for_update().first()
                if account is None:
                    continue
                account.next_settle_at = now  # settle even if the hint was lost
                before = await _count_open(conn, account.id, now)
                await settle_account(conn, account, now)
        except Exception as exc:
            # One account's bad data must not stop the others' points, run after run.
            log.exception("settling account %s failed", account_id)
            await _count_failure(account_id, now, exc)
            continue
        settled += before
        if before:
            members.add((account.tenant_id, account.member_id))
    return Settled(settled, frozenset(members))


async def _count_failure(account_id: Any, now: datetime, exc: Exception) -> None:
    """Count a failed settlement against the account's due grants; at MAX_SETTLE_FAILURES
    they are FAILED, with the error, and no longer due (so the account's postings, which
    settle it first, work again)."""
    open_due = PointGrant.filter(
        account_id=account_id,
        status__in=[GrantStatus.PENDING, GrantStatus.ACTIVE],
        due_at__lte=now,
    )
    error = f"{type(exc).__name__}: {exc}"[:500]
    await open_due.update(settle_failures=F("settle_failures") + 1, settle_error=error)
    await open_due.filter(settle_failures__gte=MAX_SETTLE_FAILURES).update(
        status=GrantStatus.FAILED, due_at=None
    )


async def _count_open(conn: BaseDBAsyncClient, account_id: UUID, now: datetime) -> int:
    return (
        await PointGrant.filter(
            account_id=account_id,
            status__in=[GrantStatus.PENDING, GrantStatus.ACTIVE],
            due_at__lte=now,
        )
        .using_db(conn)
        .count()
    )


async def settle_member_account(member_id: UUID, definition_id: UUID) -> None:
    async with atomic() as conn:
        account = await lock_account(conn, member_id, definition_id)
        if account is not None:
            await settle_account(conn, account, clock.now())


@dataclass(frozen=True)
class AccountView:
    account: PointAccount
    active: int
    pending: int
    expiring_soon: int
    next_expiry_at: datetime | None


def needs_grants(account: PointAccount, now: datetime) -> bool:
    """Whether the account's view depends on its grants (one is due within EXPIRING_SOON)."""
    hint = account.next_settle_at
    return hint is not None and hint <= now + EXPIRING_SOON


OPEN_GRANTS = (GrantStatus.PENDING, GrantStatus.ACTIVE)


async def account_view(account: PointAccount, now: datetime | None = None) -> AccountView:
    """Balances as of `now`, counting due activations and expiries the cron has not run yet."""
    now = now or clock.now()
    if not needs_grants(account, now):
        return view_of(account, [], now)
    grants = await PointGrant.filter(account_id=account.id, status__in=OPEN_GRANTS)
    return view_of(account, grants, now)


def view_of(account: PointAccount, grants: list[PointGrant], now: datetime) -> AccountView:
    """The view of `account` given its open (PENDING, ACTIVE) grants."""
    active, pending = account.balance, account.pending
    expiring_soon = 0
    next_expiry: datetime | None = None
    for grant in grants:
        status, remaining = grant.status, grant.remaining
        if status == GrantStatus.PENDING and grant.valid_from and grant.valid_from <= now:
            # Due but not settled yet: count it as its activation would, then as active.
            pending -= grant.amount
            active += grant.amount
            status, remaining = GrantStatus.ACTIVE, grant.amount
        if status == GrantStatus.ACTIVE and grant.valid_to is not None:
            if grant.valid_to <= now:
                active -= remaining
            elif remaining > 0:
                if grant.valid_to <= now + EXPIRING_SOON:
                    expiring_soon += remaining
                next_expiry = min(next_expiry or grant.valid_to, grant.valid_to)
    return AccountView(account, active, pending, expiring_soon, next_expiry)
