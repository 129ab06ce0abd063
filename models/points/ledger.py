"""The ledger: the only code that changes an account's balance, for one posting or many.

Every posting is a guarded UPDATE of the cached balance plus one immutable entry, in the
caller's transaction, so the balance always equals the sum of the entries. One posting
(`post_entry`) moves its account at once (a debit of an account with nothing to settle,
`debit_settled`, also locks it in that UPDATE and leaves its entry to the caller's next
statement); many (models.points.bulk_postings, a point-master
upload's chunk) are computed in memory on locked accounts and written with `move_balances`.
Both build their rows with `entry_row` and `grant_row`, and spend expiring points with
`spend_lots`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from core import clock
from models.live.effects import balances_changed
from models.points.announcements import entry_posted
from models.points.tables import GrantStatus, LedgerEntry, LedgerSource, PointAccount, PointGrant

_ACCOUNTS = PointAccount._meta.db_table
_ENTRIES = LedgerEntry._meta.db_table


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
    source_name: str | None = None,
) -> LedgerEntry | None:
    """Post `amount` (+/-) to the account; None if it would take the balance below zero."""
    moved = await _move_balance(conn, account.id, amount)
    if moved is None:
        return None
    new_balance, seq, previous_at = moved
    # A caller's `at` may have been read before it waited for the lock, and lists sort by
    # time before number: never before the previous entry.
    at = max(at or clock.now(), previous_at or datetime.min.replace(tzinfo=UTC))
    entry = LedgerEntry(
        **entry_row(
            account,
            amount,
            source,
            balance_after=new_balance,
            seq=seq,
            created_at=at,
            description=description,
            actor=actor,
            valid_from=valid_from,
            valid_to=valid_to,
            redemption_id=redemption_id,
            entry_id=entry_id,
            source_name=source_name,
        )
    )
    await entry.save(using_db=conn)
    await _posted(conn, account, entry)
    account.balance = new_balance
    account.ledger_seq = seq
    if amount < 0 and source != LedgerSource.EXPIRY and account.next_settle_at is not None:
        await consume_expiring(conn, account.id, -amount)
    return entry


async def debit_settled(
    conn: BaseDBAsyncClient,
    member_id: UUID,
    definition_id: UUID,
    amount: int,
    source: LedgerSource,
    *,
    description: str,
    actor: str,
    redemption_id: UUID | None = None,
    at: datetime,
) -> tuple[PointAccount, LedgerEntry] | None:
    """`amount` taken from the member's account in the one UPDATE that also locks it, when
    the account has nothing to settle or spend first (no pending or expiring points:
    `next_settle_at` is NULL) and holds enough. Returns the account as it now is and the
    posting's entry, which the caller writes in this transaction (it is not saved here:
    it can ride on the caller's next statement, models.db.bulk_statements.PendingRows).
    None, with nothing changed: the caller takes the general way (`lock_account`,
    `settle_account`, `post_entry`), which also says why it is refused."""
    if conn.capabilities.dialect == "postgres":
        sql = settled_debit("$1", "$2", "$3")
        values: list[object] = [amount, member_id, definition_id]
    else:
        sql = settled_debit("?", "?", "?", again="?")
        values = [amount, str(member_id), str(definition_id), amount]
    rows = await conn.execute_query_dict(sql, values)
    if not rows:
        return None
    row = rows[0]
    previous_at = LedgerEntry._meta.fields_map["created_at"].to_python_value(row.pop("previous_at"))
    account = PointAccount._init_from_db(**row)
    if previous_at is None and account.ledger_seq > 1:
        # The UPDATE waited for another posting's commit, whose entry is newer than the
        # statement's snapshot: read it now (every number has its entry).
        previous = await LedgerEntry.filter(
            account_id=account.id, seq=account.ledger_seq - 1
        ).using_db(conn)
        previous_at = previous[0].created_at if previous else None
    entry = LedgerEntry(
        **entry_row(
            account,
            -amount,
            source,
            balance_after=account.balance,
            seq=account.ledger_seq,
            created_at=max(at, previous_at or at),
            description=description,
            actor=actor,
            redemption_id=redemption_id,
        )
    )
    await _posted(conn, account, entry)
    return account, entry


def settled_debit(
    cost: str, member: str, definition: str, again: str | None = None, only_if: str = ""
) -> str:
    """The UPDATE of `debit_settled`, its values named by the placeholders given (`again`:
    the cost's second placeholder, for positional parameters; `only_if`: one more
    condition). It returns the account's row and the previous entry's time
    (`previous_at`) as the statement's snapshot sees it: NULL past the first entry when
    the UPDATE waited for another posting's commit."""
    also = f" AND {only_if}" if only_if else ""
    return (
        f'UPDATE "{_ACCOUNTS}" SET "balance" = "balance" - {cost}, '
        f'"ledger_seq" = "ledger_seq" + 1 WHERE "member_id" = {member} '
        f'AND "definition_id" = {definition} AND "next_settle_at" IS NULL '
        f'AND "balance" - {again or cost} >= 0{also} RETURNING *, {_PREVIOUS_AT}'
    )


async def _posted(conn: BaseDBAsyncClient, account: PointAccount, entry: LedgerEntry) -> None:
    """What follows any posting: the tenant's points webhooks (outbox rows, in the
    transaction) and, after commit, the member's live balance."""
    await entry_posted(conn, account, entry)
    balances_changed(account.tenant_id, account.member_id)


class Holder(Protocol):
    """What a ledger entry's row takes of its account."""

    @property
    def id(self) -> Any: ...

    @property
    def tenant_id(self) -> UUID: ...


def entry_row(
    account: Holder,
    amount: int,
    source: LedgerSource,
    *,
    balance_after: int,
    seq: int,
    created_at: datetime,
    description: str,
    actor: str,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    redemption_id: UUID | None = None,
    entry_id: UUID | None = None,
    source_name: str | None = None,
) -> dict[str, Any]:
    """A ledger entry's column values: `amount` took the balance to `balance_after`."""
    return {
        "id": entry_id or uuid4(),
        "tenant_id": account.tenant_id,
        "account_id": account.id,
        "amount": amount,
        "balance_before": balance_after - amount,
        "balance_after": balance_after,
        "source": LedgerSource(source).value,
        "source_name": source_name,
        "description": description,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "redemption_id": redemption_id,
        "actor": actor,
        "created_at": created_at,
        "seq": seq,
    }


def grant_row(
    account: PointAccount,
    grant_id: UUID,
    amount: int,
    source: LedgerSource,
    *,
    description: str,
    actor: str,
    valid_from: datetime | None,
    valid_to: datetime | None,
    pending: bool,
    created_at: datetime,
    source_name: str | None = None,
) -> dict[str, Any]:
    """A grant's column values: PENDING until valid-from (counted in `pending`), or ACTIVE
    and expiring at valid-to (its points already posted); `due_at` is when it is next
    looked at."""
    due = valid_from if pending else valid_to
    assert due is not None
    return {
        "id": grant_id,
        "tenant_id": account.tenant_id,
        "account_id": account.id,
        "amount": amount,
        "remaining": 0 if pending else amount,
        "source": LedgerSource(source).value,
        "source_name": source_name,
        "description": description,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "status": (GrantStatus.PENDING if pending else GrantStatus.ACTIVE).value,
        "due_at": due,
        "actor": actor,
        "created_at": created_at,
    }


class Lot(Protocol):
    """Unspent expiring points: a grant's remainder."""

    remaining: int


L = TypeVar("L", bound=Lot)


def spend_lots(lots: Iterable[L], spent: int) -> list[tuple[L, int]]:
    """What a debit of `spent` takes from each lot, given soonest expiry first: expiring
    points are spent before points that never expire. (An expiry posting takes its own
    grant's remainder and does not come through here.)"""
    taken = []
    for lot in lots:
        if spent <= 0:
            break
        take = min(lot.remaining, spent)
        if take:
            taken.append((lot, take))
        spent -= take
    return taken


# The previous entry's time rides on the balance UPDATE (one round trip per posting).
_PREVIOUS_AT = (
    f'(SELECT e."created_at" FROM "{_ENTRIES}" AS e WHERE e."account_id" = "{_ACCOUNTS}"."id" '
    f'AND e."seq" = "{_ACCOUNTS}"."ledger_seq" - 1) AS "previous_at"'
)


async def _move_balance(
    conn: BaseDBAsyncClient, account_id: UUID, amount: int
) -> tuple[int, int, datetime | None] | None:
    """balance += amount unless below zero, and the posting's number in the same UPDATE:
    taken under the row's lock, numbers follow the order in which balances moved.
    Returns (new balance, number, the previous entry's time), None when refused."""
    if conn.capabilities.dialect == "postgres":
        sql = (
            f'UPDATE "{_ACCOUNTS}" SET "balance" = "balance" + $1, '
            '"ledger_seq" = "ledger_seq" + 1 WHERE "id" = $2 AND "balance" + $1 >= 0 '
            f'RETURNING "balance", "ledger_seq", {_PREVIOUS_AT}'
        )
        values: list[object] = [amount, account_id]
    else:
        sql = (
            f'UPDATE "{_ACCOUNTS}" SET "balance" = "balance" + ?, '
            '"ledger_seq" = "ledger_seq" + 1 WHERE "id" = ? AND "balance" + ? >= 0 '
            f'RETURNING "balance", "ledger_seq", {_PREVIOUS_AT}'
        )
        values = [amount, str(account_id), amount]
    rows = await conn.execute_query_dict(sql, values)
    if not rows:
        return None
    row = rows[0]
    previous_at = LedgerEntry._meta.fields_map["created_at"].to_python_value(row["previous_at"])
    return int(row["balance"]), int(row["ledger_seq"]), previous_at


async def move_balances(
    conn: BaseDBAsyncClient, moves: list[tuple[UUID, int, int, datetime | None, int]]
) -> list[tuple[UUID, int, int, int]]:
    """balance += d, pending += p, next_settle_at = hint, ledger_seq += n (the postings'
    numbers), unless a result would be negative.

    Returns (id, balance, pending, ledger_seq) of the rows that moved. One statement on
    PostgreSQL.
    """
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            f'UPDATE "{_ACCOUNTS}" AS a SET "balance" = a."balance" + v.d, '
            '"pending" = a."pending" + v.p, "next_settle_at" = v.hint, '
            '"ledger_seq" = a."ledger_seq" + v.n '
            "FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], "
            "$5::bigint[]) AS v(id, d, p, hint, n) "
            'WHERE a."id" = v.id AND a."balance" + v.d >= 0 AND a."pending" + v.p >= 0 '
            'RETURNING a."id", a."balance", a."pending", a."ledger_seq"',
            [[m[0] for m in moves], [m[1] for m in moves], [m[2] for m in moves],
             [m[3] for m in moves], [m[4] for m in moves]],
        )  # fmt: skip
        return [
            (UUID(str(r["id"])), int(r["balance"]), int(r["pending"]), int(r["ledger_seq"]))
            for r in rows
        ]
    landed = []
    for account_id, d, p, hint, n in moves:
        rows = await conn.execute_query_dict(
            f'UPDATE "{_ACCOUNTS}" SET "balance" = "balance" + ?, "pending" = "pending" + ?, '
            '"next_settle_at" = ?, "ledger_seq" = "ledger_seq" + ? '
            'WHERE "id" = ? AND "balance" + ? >= 0 AND "pending" + ? >= 0 '
            'RETURNING "balance", "pending", "ledger_seq"',
            [d, p, hint, n, str(account_id), d, p],
        )
        if rows:
            r = rows[0]
            landed.append((account_id, int(r["balance"]), int(r["pending"]), int(r["ledger_seq"])))
    return landed


async def consume_expiring(conn: BaseDBAsyncClient, account_id: UUID, spent: int) -> None:
    """A debit spends expiring points first, soonest expiry first.

    (An expiry posting takes its own grant's remainder and must not come through here.)
    """
    lots = (
        await PointGrant.filter(account_id=account_id, status=GrantStatus.ACTIVE, remaining__gt=0)
        .using_db(conn)
        .order_by("valid_to", "created_at")
    )
    for lot, take in spend_lots(lots, spent):
        await PointGrant.filter(id=lot.id).using_db(conn).update(remaining=lot.remaining - take)


async def lower_settle_hint(conn: BaseDBAsyncClient, account_id: UUID, due: datetime) -> None:
    """Make sure the account is looked at no later than `due`."""
    await (
        PointAccount.filter(
            Q(id=account_id) & (Q(next_settle_at__isnull=True) | Q(next_settle_at__gt=due))
        )
        .using_db(conn)
        .update(next_settle_at=due)
    )
