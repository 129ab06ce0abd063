"""The ledger's path for many postings: on locked accounts, computed in memory, written in a
few statements (a point-master upload's chunk) instead of one round trip per posting.

Rows, the spending rule and the balance moves are models.points.ledger's (`entry_row`,
`grant_row`, `spend_lots`, `move_balances`); what this module adds is the order:
- the chunk's accounts are locked in primary-key order (PostgreSQL) and settled (due pending
  points activated, due expiring points expired) before anything is posted;
- a posting moves the balance from `balance_before` to `balance_after` and is refused when
  the balance would fall below zero; postings on one account chain in item order;
- a debit spends unspent expiring points first, soonest expiry first;
- points with a future valid-from wait as a PENDING grant (counted in `pending`), points with
  a valid-to are an ACTIVE grant; either way the account's settle hint is lowered to the
  moment it must be looked at next.
`write()` then inserts the entries and grants (one statement each), updates the spent lots
and moves each account once, by the difference, with a guarded UPDATE that must land on the
values computed here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from models.db.bulk_statements import insert_rows
from models.live.effects import balances_changed
from models.points.announcements import entries_posted
from models.points.grants import settle_account
from models.points.ledger import entry_row, grant_row, move_balances, spend_lots
from models.points.tables import GrantStatus, LedgerEntry, LedgerSource, PointAccount, PointGrant


@dataclass(order=True)
class _Lot:
    """Unspent expiring points of one grant, in the order debits spend them."""

    valid_to: datetime
    created_at: datetime
    seq: int
    grant_id: UUID = field(compare=False)
    remaining: int = field(compare=False)
    loaded: int | None = field(compare=False)  # remaining as read; None for a new grant


@dataclass
class _Start:
    balance: int
    pending: int
    next_settle_at: datetime | None
    ledger_seq: int


class AccountBook:
    def __init__(self, conn: BaseDBAsyncClient, now: datetime) -> None:
        self.conn = conn
        self.now = now  # of every posting of the chunk (see _tick)
        self.accounts: dict[UUID, PointAccount] = {}
        self.entries: list[dict[str, Any]] = []  # ledger_entry rows
        self.grants: list[dict[str, Any]] = []  # point_grant rows
        self._start: dict[UUID, _Start] = {}
        self._lots: dict[UUID, list[_Lot]] = {}
        self._lots_loaded: set[UUID] = set()
        self._seq = 0
        self._ticks = 0

    def _tick(self) -> datetime:
        """`now`, one microsecond later for each posting: the ledger lists entries by
        created_at, so the chunk's postings keep their item order there."""
        self._ticks += 1
        return self.now + timedelta(microseconds=self._ticks)

    def later(self) -> datetime:
        """A time after every posting of the chunk so far (what reads them back may use)."""
        return self._tick()

    @classmethod
    async def locked(cls, conn: BaseDBAsyncClient, account_ids: set[UUID]) -> AccountBook:
        """Lock (PostgreSQL: FOR UPDATE, in primary-key order) and settle the accounts.

        `now` is read once the locks are held: postings on an account are stamped after
        those of the transaction that held it before.
        """
        rows = (
            await PointAccount.filter(id__in=list(account_ids))
            .order_by("id")
            .select_for_update()
            .using_db(conn)
            if account_ids
            else []
        )
        book = cls(conn, await _not_before_last_entries(conn, rows, clock.now()))
        for account in rows:
            await settle_account(conn, account, book.now)  # a no-op unless due
            book.accounts[account.id] = account
            book._start[account.id] = _Start(
                account.balance, account.pending, account.next_settle_at, account.ledger_seq
            )
        return book

    async def load_lots(self, account_ids: set[UUID]) -> None:
        """Read the unspent expiring points of the accounts a debit may touch."""
        wanted = [
            i for i in account_ids if i not in self._lots_loaded and self._start[i].next_settle_at
        ]
        self._lots_loaded.update(account_ids)
        if not wanted:
            return
        grants = (
            await PointGrant.filter(
                account_id__in=wanted, status=GrantStatus.ACTIVE, remaining__gt=0
            )
            .using_db(self.conn)
            .order_by("valid_to", "created_at")
        )
        for grant in grants:
            assert grant.valid_to is not None  # only expiring grants keep a remainder
            self._add_lot(
                grant.account_id,
                grant.valid_to,
                grant.created_at,
                grant.id,
                grant.remaining,
                loaded=True,
            )

    def post(
        self,
        account_id: UUID,
        amount: int,
        source: LedgerSource,
        *,
        description: str,
        actor: str,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        entry_id: UUID | None = None,
        source_name: str | None = None,
    ) -> bool:
        """Post `amount` (+/-); False (and nothing changed) if the balance would go below 0."""
        account = self.accounts[account_id]
        after = account.balance + amount
        if after < 0:
            return False
        account.ledger_seq += 1
        self.entries.append(
            entry_row(
                account,
                amount,
                source,
                balance_after=after,
                seq=account.ledger_seq,
                created_at=self._tick(),
                description=description,
                actor=actor,
                valid_from=valid_from,
                valid_to=valid_to,
                entry_id=entry_id,
                source_name=source_name,
            )
        )
        account.balance = after
        if amount < 0 and source != LedgerSource.EXPIRY:
            self._spend(account_id, -amount)
        return True

    def add_grant(
        self,
        account_id: UUID,
        grant_id: UUID,
        amount: int,
        source: LedgerSource,
        *,
        description: str,
        actor: str,
        valid_from: datetime | None,
        valid_to: datetime | None,
        pending: bool,
        source_name: str | None = None,
    ) -> None:
        """A pending grant (waits for valid-from) or an expiring one (already posted)."""
        account = self.accounts[account_id]
        created_at = self._tick()
        row = grant_row(
            account,
            grant_id,
            amount,
            source,
            description=description,
            actor=actor,
            valid_from=valid_from,
            valid_to=valid_to,
            pending=pending,
            created_at=created_at,
            source_name=source_name,
        )
        self.grants.append(row)  # an expiring one's remaining: set by write()
        due = row["due_at"]
        if pending:
            account.pending += amount
        else:
            assert valid_to is not None
            self._add_lot(account_id, valid_to, created_at, grant_id, amount, loaded=False)
        if account.next_settle_at is None or account.next_settle_at > due:
            account.next_settle_at = due

    def _add_lot(
        self,
        account_id: UUID,
        valid_to: datetime,
        created_at: datetime,
        grant_id: UUID,
        remaining: int,
        *,
        loaded: bool,
    ) -> None:
        self._seq += 1
        lot = _Lot(
            valid_to, created_at, self._seq, grant_id, remaining, remaining if loaded else None
        )
        bisect.insort(self._lots.setdefault(account_id, []), lot)

    def _spend(self, account_id: UUID, spent: int) -> None:
        if self._start[account_id].next_settle_at and account_id not in self._lots_loaded:
            raise RuntimeError(f"debit on account {account_id} before its lots were loaded")
        for lot, take in spend_lots(self._lots.get(account_id, []), spent):
            lot.remaining -= take

    async def write(self) -> None:
        remaining = {lot.grant_id: lot.remaining for lots in self._lots.values() for lot in lots}
        for grant in self.grants:
            if grant["status"] == GrantStatus.ACTIVE:
                grant["remaining"] = remaining[grant["id"]]
        await insert_rows(self.conn, LedgerEntry, self.entries)
        await entries_posted(self.conn, self.entries, self.accounts)  # the tenant's webhooks
        await insert_rows(self.conn, PointGrant, self.grants)
        spent = [
            lot for lots in self._lots.values() for lot in lots
            if lot.loaded is not None and lot.remaining != lot.loaded
        ]  # fmt: skip
        for lot in spent:
            changed = (
                await PointGrant.filter(id=lot.grant_id, remaining=lot.loaded)
                .using_db(self.conn)
                .update(remaining=lot.remaining)
            )
            if not changed:
                raise RuntimeError(f"grant {lot.grant_id} changed under its account's lock")
        await self._move_accounts()

    async def _move_accounts(self) -> None:
        moves = []
        for account_id, account in self.accounts.items():
            start = self._start[account_id]
            if (account.balance, account.pending, account.next_settle_at, account.ledger_seq) != (
                start.balance,
                start.pending,
                start.next_settle_at,
                start.ledger_seq,
            ):
                moves.append(
                    (account_id, account.balance - start.balance, account.pending - start.pending,
                     account.next_settle_at, account.ledger_seq - start.ledger_seq)
                )  # fmt: skip
        if not moves:
            return
        landed = await move_balances(self.conn, moves)
        for account_id, balance, pending, seq in landed:
            account = self.accounts[account_id]
            if (balance, pending, seq) != (account.balance, account.pending, account.ledger_seq):
                raise RuntimeError(f"account {account_id} changed under its lock")
        if len(landed) != len(moves):
            raise RuntimeError("an account update was refused by its guard")
        for account_id, *_ in landed:
            account = self.accounts[account_id]
            balances_changed(account.tenant_id, account.member_id)


async def _not_before_last_entries(
    conn: BaseDBAsyncClient, accounts: list[PointAccount], now: datetime
) -> datetime:
    """`now`, or the time of the accounts' latest entry if later (an earlier chunk's
    postings are stamped a microsecond apart, so may run ahead of the clock): an account's
    entries never go back in time along their numbers, which lists sort on.

    The accounts' latest entries are among those with one of their ids and one of their
    last numbers; the others there are earlier entries of the same accounts, so no later:
    two IN lists find the latest time without a condition per account.
    """
    touched = [a for a in accounts if a.ledger_seq]
    if not touched:
        return now
    latest = (
        await LedgerEntry.filter(
            account_id__in=[a.id for a in touched], seq__in={a.ledger_seq for a in touched}
        )
        .using_db(conn)
        .order_by("-created_at")
        .first()
        .values_list("created_at", flat=True)
    )
    return max(now, cast(datetime, latest)) if latest else now
