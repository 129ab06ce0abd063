"""Applying a balances upload: each account set to the master's total, a chunk per
transaction.

A balance item moves the account only if its snapshot is newer than the last applied one,
read under the account's lock, so an out-of-order batch never rolls a balance back; the
difference is a BALANCE_SYNC ledger entry, so history shows why the balance moved.

Redemptions (and failed redemptions' refunds) move the balance here at once and are
forwarded to the master (models.pointmaster.redemption_forwards). A snapshot taken at T includes those
delivered at or before T; the others (not delivered, or delivered after T) are added to the
snapshot's amount, so it neither gives spent points back nor counts them twice:
    target = amount + sum(applied-locally forwards not at the master by T), at least 0.
Forwards a snapshot includes become REFLECTED; later snapshots (never older: see above)
include them too. A delivery is recorded once the master answered, after it applied the
adjustment: a snapshot taken in between counts it twice until the next snapshot, erring on
the side of fewer points, never of points spent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from models.db.bulk_statements import update_rows
from models.db.transactions import atomic
from models.pointmaster.applying import CHUNK_ITEMS, BatchApplier, Outcome
from models.pointmaster.items import BalanceItem, balance_item, voyado_time
from models.pointmaster.tables import BalanceSnapshot, ForwardedAdjustment
from models.pointmaster.upload_rows import as_uuid, chunk_rows, ensure_snapshots
from models.points.bulk_postings import AccountBook
from models.points.tables import LedgerSource


@dataclass
class _Balance:
    index: int
    item: BalanceItem
    definition_id: UUID
    account_id: UUID | None = None  # set in the chunk's transaction


class BalancesApplier(BatchApplier):
    async def run(self) -> Outcome:
        parsed = await self.parse(balance_item)
        items = [_Balance(i, item, d.id) for i, item, d, _ in parsed]
        chunks = (items[start : start + CHUNK_ITEMS] for start in range(0, len(items), CHUNK_ITEMS))
        await self.apply_chunks(chunks, self._chunk)
        return self.outcome

    async def _chunk(self, chunk: list[_Balance]) -> Outcome:
        outcome = Outcome()
        async with atomic() as conn:
            made = await chunk_rows(
                conn, self.tenant_id, {(b.item.contact_id, b.definition_id) for b in chunk}
            )
            for b in chunk:
                b.account_id = made.accounts[(b.item.contact_id, b.definition_id)]
            account_ids = {b.account_id for b in chunk if b.account_id is not None}
            await ensure_snapshots(conn, self.tenant_id, account_ids)
            book = await AccountBook.locked(conn, account_ids)
            snapshots = {
                s.account_id: s
                for s in await BalanceSnapshot.filter(account_id__in=list(account_ids)).using_db(
                    conn
                )
            }
            await book.load_lots(account_ids)  # a sync that lowers a balance spends lots
            unseen = await _unseen_forwards(conn, self.tenant_id, book)
            reflected: list[UUID] = []
            moved = {}
            for b in chunk:
                assert b.account_id is not None
                snapshot, item = snapshots[b.account_id], b.item
                if snapshot.snapshot_at > item.time_stamp:
                    outcome.reject(
                        b.index,
                        f"snapshot of {voyado_time(item.time_stamp)} is older than the last "
                        f"applied one ({voyado_time(snapshot.snapshot_at)}); ignored",
                    )
                    continue
                if snapshot.snapshot_at == item.time_stamp:
                    outcome.duplicates += 1
                    continue
                snapshot.snapshot_at, snapshot.amount = item.time_stamp, item.amount
                snapshot.batch_id, snapshot.updated_at = self.batch.id, book.now
                moved[b.account_id] = snapshot
                forwards = unseen.get(b.account_id, [])
                included = [f for f in forwards if f.at_master_by(item.time_stamp)]
                reflected += [f.id for f in included]
                unseen[b.account_id] = [f for f in forwards if f not in included]
                self._set(book, b, unseen[b.account_id], outcome)
                outcome.applied += 1
            rows = [
                {"id": s.id, "snapshot_at": s.snapshot_at, "amount": s.amount,
                 "batch_id": s.batch_id, "updated_at": s.updated_at}
                for s in moved.values()
            ]  # fmt: skip
            if await update_rows(conn, BalanceSnapshot, "id", rows) != len(rows):
                raise RuntimeError("a balance snapshot vanished under its account's lock")
            if reflected:
                await (
                    ForwardedAdjustment.filter(id__in=reflected)
                    .using_db(conn)
                    .update(reflected_at=book.now, reflected_batch_id=self.batch.id)
                )
            await book.write()
            kept = {b.account_id for b in chunk if b.index not in outcome.rejected}
            await made.drop_unused(conn, {a for a in kept if a is not None})
        return outcome

    def _set(
        self, book: AccountBook, b: _Balance, pending: list[_Forward], outcome: Outcome
    ) -> None:
        item, account_id = b.item, b.account_id
        assert account_id is not None
        snapshot = f"snapshot {voyado_time(item.time_stamp)}"
        target, why = item.amount, snapshot
        if pending:
            local = sum(f.amount for f in pending)
            target = max(0, item.amount + local)
            why = (
                f"{snapshot}: {item.amount}, {local:+d} from {len(pending)} redemption "
                "change(s) made here that the master had not received by then"
                + ("; not below 0" if item.amount + local < 0 else "")
            )
            outcome.note(b.index, f"applied as {target}: {why}")
        difference = target - book.accounts[account_id].balance
        if not difference:
            return
        posted = book.post(
            account_id,
            difference,
            LedgerSource.BALANCE_SYNC,
            description=f"Balance set to {target} by the point master ({why})",
            actor=self.actor,
        )
        if not posted:  # the target is >= 0 and the account is locked
            raise RuntimeError(f"balance sync would overdraw account {account_id}")


@dataclass(frozen=True)
class _Forward:
    """A redemption's change applied here and forwarded, not known to be in a snapshot."""

    id: UUID
    amount: int
    delivered_at: datetime | None

    def at_master_by(self, moment: datetime) -> bool:
        return self.delivered_at is not None and self.delivered_at <= moment


async def _unseen_forwards(
    conn: BaseDBAsyncClient, tenant_id: UUID, book: AccountBook
) -> dict[UUID, list[_Forward]]:
    """account id -> its applied-locally forwards no applied snapshot included yet."""
    accounts = {(a.member_id, a.definition_id): a.id for a in book.accounts.values()}
    if not accounts:
        return {}
    rows = (
        await ForwardedAdjustment.filter(
            tenant_id=tenant_id,
            applied_locally=True,
            reflected_at__isnull=True,
            member_id__in=list({m for m, _ in accounts}),
            point_definition_id__in=list({d for _, d in accounts}),
        )
        .using_db(conn)
        .order_by("created_at")
        .values("id", "member_id", "point_definition_id", "amount", "delivery__delivered_at")
    )
    unseen: dict[UUID, list[_Forward]] = {}
    for row in rows:
        account_id = accounts.get((as_uuid(row["member_id"]), as_uuid(row["point_definition_id"])))
        if account_id is not None:
            forward = _Forward(as_uuid(row["id"]), row["amount"], row["delivery__delivered_at"])
            unseen.setdefault(account_id, []).append(forward)
    return unseen
