"""Ledger postings: the only code that changes an account's balance.

Every posting is one guarded UPDATE of the cached balance plus one immutable entry, in
the caller's transaction, so the balance always equals the sum of the entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from core import clock
from models.live.effects import balances_changed
from models.points.tables import GrantStatus, LedgerEntry, LedgerSource, PointAccount, PointGrant


async def ensure_account(tenant_id: UUID, member_id: UUID, definition_id: UUID) -> PointAccount:
    """The member's account in this currency, created on first use (race-safe)."""
    account = await PointAccount.get_or_none(member_id=member_id, definition_id=definition_id)
    if account is not None:
        return account
    await PointAccount.bulk_create(
        [
            PointAccount(
                id=uuid4(), tenant_id=tenant_id, member_id=member_id, definition_id=definition_id
            )
        ],
        ignore_conflicts=True,
    )
    return await PointAccount.get(member_id=member_id, definition_id=definition_id)


async def lock_account(
    conn: BaseDBAsyncClient, member_id: UUID, definition_id: UUID
) -> PointAccount | None:
    """Read and lock the account row (PostgreSQL) so postings on it are serialised.

    Accounts are always locked before grants, usage rows and rewards, so two transactions
    never wait on each other in opposite orders.
    """
    return (
        await PointAccount.filter(member_id=member_id, definition_id=definition_id)
        .select_for_update()
        .using_db(conn)
        .first()
    )


async def post_entry(
    conn: BaseDBAsyncClient,
    account: PointAccount,
    amount: int,
    source: LedgerSource,
    *,
    description: str = "",
    actor: str = "system",
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    redemption_id: UUID | None = None,
    at: datetime | None = None,
    entry_id: UUID | None = None,
) -> LedgerEntry | None:
    """Post `amount` (+/-) to the account; None if it would take the balance below zero."""
    moved = await _move_balance(conn, account.id, amount)
    if moved is None:
        return None
    new_balance, seq = moved
    at = await _not_before_previous(conn, account.id, seq, at or clock.now())
    entry = LedgerEntry(
        id=entry_id or uuid4(),
        tenant_id=account.tenant_id,
        account_id=account.id,
        amount=amount,
        balance_before=new_balance - amount,
        balance_after=new_balance,
        source=source,
        description=description,
        valid_from=valid_from,
        valid_to=valid_to,
        redemption_id=redemption_id,
        actor=actor,
        created_at=at,
        seq=seq,
    )
    await entry.save(using_db=conn)
    balances_changed(account.tenant_id, account.member_id)
    account.balance = new_balance
    account.ledger_seq = seq
    if amount < 0 and source != LedgerSource.EXPIRY and account.next_settle_at is not None:
        await consume_expiring(conn, account.id, -amount)
    return entry


async def _move_balance(
    conn: BaseDBAsyncClient, account_id: UUID, amount: int
) -> tuple[int, int] | None:
    """balance += amount unless below zero, and the posting's number in the same UPDATE:
    taken under the row's lock, numbers follow the order in which balances moved.
    Returns (new balance, number), None when refused."""
    if conn.capabilities.dialect == "postgres":
        sql = (
            'UPDATE "point_account" SET "balance" = "balance" + $1, '
            '"ledger_seq" = "ledger_seq" + 1 WHERE "id" = $2 AND "balance" + $1 >= 0 '
            'RETURNING "balance", "ledger_seq"'
        )
        values: list[object] = [amount, account_id]
    else:
        sql = (
            'UPDATE "point_account" SET "balance" = "balance" + ?, '
            '"ledger_seq" = "ledger_seq" + 1 WHERE "id" = ? AND "balance" + ? >= 0 '
            'RETURNING "balance", "ledger_seq"'
        )
        values = [amount, str(account_id), amount]
    rows = await conn.execute_query_dict(sql, values)
    if not rows:
        return None
    return int(rows[0]["balance"]), int(rows[0]["ledger_seq"])


async def _not_before_previous(
    conn: BaseDBAsyncClient, account_id: UUID, seq: int, at: datetime
) -> datetime:
    """`at`, or the previous entry's time if that is later: a caller's `at` may have been
    read before it waited for the lock, and lists sort by time before number."""
    previous = (
        await LedgerEntry.filter(account_id=account_id, seq=seq - 1)
        .using_db(conn)
        .values_list("created_at", flat=True)
    )
    return max([at, *cast(list[datetime], previous)])


async def consume_expiring(conn: BaseDBAsyncClient, account_id: UUID, spent: int) -> None:
    """A debit spends expiring points first, soonest expiry first.

    (An expiry posting takes its own grant's remainder and must not come through here.)
    """
    lots = (
        await PointGrant.filter(account_id=account_id, status=GrantStatus.ACTIVE, remaining__gt=0)
        .using_db(conn)
        .order_by("valid_to", "created_at")
    )
    for lot in lots:
        if spent <= 0:
            break
        take = min(lot.remaining, spent)
        await PointGrant.filter(id=lot.id).using_db(conn).update(remaining=lot.remaining - take)
        spent -= take


async def lower_settle_hint(conn: BaseDBAsyncClient, account_id: UUID, due: datetime) -> None:
    """Make sure the account is looked at no later than `due`."""
    await (
        PointAccount.filter(
            Q(id=account_id) & (Q(next_settle_at__isnull=True) | Q(next_settle_at__gt=due))
        )
        .using_db(conn)
        .update(next_settle_at=due)
    )
