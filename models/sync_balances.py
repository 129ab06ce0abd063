"""Applying a balances upload: each account set to the master's total, a chunk per
transaction.

A balance item moves the account only if its snapshot is newer than the last applied one,
read under the account's lock, so an out-of-order batch never rolls a balance back; the
difference is a BALANCE_SYNC ledger entry, so history shows why the balance moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tortoise.transactions import in_transaction

from models.bulk_sql import update_rows
from models.pointmaster import BalanceSnapshot
from models.points import LedgerSource
from models.sync_apply import CHUNK_ITEMS, BatchApplier, Outcome
from models.sync_book import AccountBook
from models.sync_bulk import ensure_accounts, ensure_snapshots
from models.sync_items import BalanceItem, balance_item, voyado_time


@dataclass
class _Balance:
    index: int
    item: BalanceItem
    account_id: UUID


class BalancesApplier(BatchApplier):
    async def run(self) -> Outcome:
        parsed = await self.parse(balance_item)
        accounts = await ensure_accounts(self.tenant_id, {(m, d.id) for _, _, d, m in parsed})
        items = [_Balance(i, item, accounts[(m, d.id)]) for i, item, d, m in parsed]
        await ensure_snapshots(self.tenant_id, {b.account_id for b in items})
        for start in range(0, len(items), CHUNK_ITEMS):
            self.outcome.merge(await self._chunk(items[start : start + CHUNK_ITEMS]))
        return self.outcome

    async def _chunk(self, chunk: list[_Balance]) -> Outcome:
        outcome = Outcome()
        async with in_transaction() as conn:
            account_ids = {b.account_id for b in chunk}
            book = await AccountBook.locked(conn, account_ids)
            snapshots = {
                s.account_id: s
                for s in await BalanceSnapshot.filter(account_id__in=list(account_ids)).using_db(
                    conn
                )
            }
            await book.load_lots(account_ids)  # a sync that lowers a balance spends lots
            moved = {}
            for b in chunk:
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
                self._set(book, b)
                outcome.applied += 1
            rows = [
                {"id": s.id, "snapshot_at": s.snapshot_at, "amount": s.amount,
                 "batch_id": s.batch_id, "updated_at": s.updated_at}
                for s in moved.values()
            ]  # fmt: skip
            if await update_rows(conn, BalanceSnapshot, "id", rows) != len(rows):
                raise RuntimeError("a balance snapshot vanished under its account's lock")
            await book.write()
        return outcome

    def _set(self, book: AccountBook, b: _Balance) -> None:
        difference = b.item.amount - book.accounts[b.account_id].balance
        if not difference:
            return
        posted = book.post(
            b.account_id,
            difference,
            LedgerSource.BALANCE_SYNC,
            description=f"Balance set to {b.item.amount} by the point master "
            f"(snapshot {voyado_time(b.item.time_stamp)})",
            actor=self.actor,
        )
        if not posted:  # the target is >= 0 and the account is locked
            raise RuntimeError(f"balance sync would overdraw account {b.account_id}")
