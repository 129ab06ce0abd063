"""Applying the items of a point-master upload, a chunk of items per database transaction.

Per batch, the definitions, members and accounts the items name are read (and created on
first use) in a few statements. Per chunk, one transaction locks the chunk's accounts in
primary-key order, claims the transaction items' idempotency keys, computes the postings in
memory (models.sync_book) and writes them with a few bulk statements.

Safe to repeat and to run concurrently with another worker applying an overlapping batch:
- a transaction item posts only if this transaction inserted its idempotency key (made of
  contact, definition, timeStamp, amount and source, or of its explicit `transactionId`);
  a key already held is a re-send (not applied twice) or, for a `transactionId` used with
  other values, a rejection. A chunk never holds the same key twice: an item repeating a key
  of the current chunk starts the next one, so it sees the first one's outcome;
- a balance item moves the account only if its snapshot is newer than the last applied one,
  read under the account's lock, so an out-of-order batch never rolls a balance back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from tortoise.transactions import in_transaction

from core import clock
from core.errors import InvalidInput
from models.awards import AwardRequest
from models.awards import _validate as validate_award
from models.idempotency import request_fingerprint
from models.point_modes import effective_mode
from models.pointmaster import BalanceSnapshot, SyncBatch, SyncKind
from models.points import LedgerSource, PointDefinition
from models.sync_book import AccountBook
from models.sync_bulk import (
    KeyClaim,
    claim_keys,
    ensure_accounts,
    ensure_members,
    ensure_snapshots,
    key_fingerprints,
    release_keys,
)
from models.sync_items import (
    BalanceItem,
    ItemError,
    TransactionItem,
    balance_item,
    transaction_item,
    voyado_time,
)
from models.tenants import PointMode, Tenant

CHUNK_ITEMS = 250  # items per database transaction
ACTOR = "point_master"
TOO_LOW = "The balance is too low for this deduction"


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    rejected: dict[int, dict[str, str]] = field(default_factory=dict)

    def reject(self, index: int, message: str) -> None:
        self.rejected[index] = {"message": f"Item {index}: {message}", "timeStamp": _stamp()}

    def merge(self, other: Outcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)

    def messages(self) -> list[dict[str, str]]:
        """Rejections in item order, then how many items were applied before."""
        messages = [self.rejected[i] for i in sorted(self.rejected)]
        if self.duplicates:
            messages.append(
                {
                    "message": f"{self.duplicates} item(s) were applied before; not applied again",
                    "timeStamp": _stamp(),
                }
            )
        return messages


def _stamp() -> str:
    return voyado_time(clock.now())


async def apply_items(batch: SyncBatch, mode: PointMode) -> Outcome:
    """Apply the batch's items to the definitions governed by `mode` (the upload's kind)."""
    applier = _Balances if batch.kind == SyncKind.BALANCES else _Transactions
    return await applier(batch, mode).run()


class _Applier:
    def __init__(self, batch: SyncBatch, mode: PointMode) -> None:
        self.batch = batch
        self.mode = mode
        self.tenant_id = batch.tenant_id
        self.actor = f"{ACTOR}:{batch.id}"  # on each posting: which upload applied it
        self.outcome = Outcome()

    async def _definitions(self, external_ids: set[int]) -> dict[int, PointDefinition | str]:
        """external id -> the definition, or why items naming it are refused."""
        tenant = await Tenant.get(id=self.tenant_id)
        found: dict[int, PointDefinition | str] = {
            i: f"definitionId {i} is not a point definition" for i in external_ids
        }
        kind = SyncKind(self.batch.kind).value.lower()
        for definition in await PointDefinition.filter(
            tenant_id=self.tenant_id, external_id__in=list(external_ids)
        ):
            mode = effective_mode(definition, tenant.point_mode)
            found[definition.external_id] = (
                definition
                if mode == self.mode
                else f"definitionId {definition.external_id} is in point mode {mode.value}; "
                f"{kind} uploads need {self.mode.value}"
            )
        return found

    async def _parse(self, parse: Any) -> list[tuple[int, Any, PointDefinition, UUID]]:
        """(index, item, definition, member id) of each well-formed item; the rest rejected."""
        parsed = []
        for index, raw in enumerate(self.batch.items):
            try:
                parsed.append((index, parse(raw)))
            except ItemError as exc:
                self.outcome.reject(index, str(exc))
        definitions = await self._definitions({item.definition_id for _, item in parsed})
        known = []
        for index, item in parsed:
            definition = definitions[item.definition_id]
            if isinstance(definition, str):
                self.outcome.reject(index, definition)
            else:
                known.append((index, item, definition))
        members = await ensure_members(self.tenant_id, {item.contact_id for _, item, _ in known})
        return [(i, item, d, members[item.contact_id]) for i, item, d in known]


@dataclass
class _Tx:
    index: int
    item: TransactionItem
    definition_id: UUID
    member_id: UUID
    key: str
    fingerprint: str
    posting_id: UUID = field(default_factory=uuid4)
    claim_id: UUID = field(default_factory=uuid4)
    account_id: UUID | None = None

    @property
    def scope(self) -> str:
        return f"points:{self.member_id}"

    @property
    def scoped_key(self) -> tuple[str, str]:
        return (self.scope, self.key)

    def invalid(self, tenant_id: UUID, now: datetime) -> str | None:
        """Why award_points would refuse the item (amount, source, validity), or None."""
        item = self.item
        request = AwardRequest(
            tenant_id=tenant_id,
            member_id=self.member_id,
            definition_id=self.definition_id,
            amount=item.amount,
            source=item.source,
            description=item.description,
            valid_from=item.valid_from,
            valid_to=item.valid_to,
        )
        try:
            validate_award(request, now)
        except InvalidInput as exc:
            return exc.message
        return None


class _Transactions(_Applier):
    async def run(self) -> Outcome:
        txs = []
        for index, item, definition, member_id in await self._parse(transaction_item):
            fingerprint = request_fingerprint(
                definition.id,
                item.amount,
                item.source,
                item.description,
                item.valid_from,
                item.valid_to,
            )
            txs.append(_Tx(index, item, definition.id, member_id, dedupe_key(item), fingerprint))
        now = clock.now()
        valid = [t for t in txs if t.invalid(self.tenant_id, now) is None]
        accounts = await ensure_accounts(
            self.tenant_id, {(t.member_id, t.definition_id) for t in valid}
        )
        for t in txs:
            t.account_id = accounts.get((t.member_id, t.definition_id))
        for chunk in _chunks(txs):
            self.outcome.merge(await self._chunk(chunk))
        return self.outcome

    async def _chunk(self, chunk: list[_Tx]) -> Outcome:
        outcome = Outcome()
        async with in_transaction() as conn:
            book = AccountBook(conn, clock.now())
            await book.lock({t.account_id for t in chunk if t.account_id is not None})
            errors = {t.index: t.invalid(self.tenant_id, book.now) for t in chunk}
            for t in chunk:
                if errors[t.index] is None and t.account_id not in book.accounts:
                    errors[t.index] = "the account was not found"  # valid only from now on
            claims = [
                KeyClaim(t.claim_id, t.scope, t.key, t.fingerprint, t.posting_id)
                for t in chunk
                if errors[t.index] is None
            ]
            claimed = await claim_keys(conn, self.tenant_id, claims)
            held = await key_fingerprints(
                conn, self.tenant_id, {t.scoped_key for t in chunk} - claimed
            )
            await book.load_lots(
                {t.account_id for t in chunk if t.account_id and t.item.amount < 0}
            )
            released = []
            for t in chunk:
                if t.scoped_key not in claimed:
                    self._not_claimed(t, held.get(t.scoped_key), errors[t.index], outcome)
                elif _post(book, t, self.actor):
                    outcome.applied += 1
                else:
                    outcome.reject(t.index, TOO_LOW)
                    released.append(t.claim_id)
            await release_keys(conn, released)
            await book.write()
        return outcome

    @staticmethod
    def _not_claimed(t: _Tx, held: str | None, error: str | None, outcome: Outcome) -> None:
        if held is None:  # never applied, and not valid
            outcome.reject(t.index, error or "the item could not be applied")
        elif held == t.fingerprint or t.item.transaction_id is None:
            # Applied before; with no transactionId, the same contact, definition, time,
            # amount and source is a re-send even if the description differs.
            outcome.duplicates += 1
        else:
            outcome.reject(
                t.index, f"transactionId {t.item.transaction_id} was applied with other values"
            )


def _chunks(txs: list[_Tx]) -> Iterator[list[_Tx]]:
    """Up to CHUNK_ITEMS items, and never one key twice in a chunk."""
    chunk: list[_Tx] = []
    keys: set[tuple[str, str]] = set()
    for t in txs:
        if len(chunk) >= CHUNK_ITEMS or t.scoped_key in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(t)
        keys.add(t.scoped_key)
    if chunk:
        yield chunk


def _post(book: AccountBook, t: _Tx, actor: str) -> bool:
    """What award_points does with one item; False when a deduction would overdraw."""
    item, account_id = t.item, t.account_id
    assert account_id is not None
    details: dict[str, Any] = {
        "description": item.description,
        "actor": actor,
        "valid_from": item.valid_from,
        "valid_to": item.valid_to,
    }
    if item.amount > 0 and item.valid_from is not None and item.valid_from > book.now:
        book.add_grant(account_id, t.posting_id, item.amount, item.source, pending=True, **details)
        return True
    if book.post(account_id, item.amount, item.source, entry_id=t.posting_id, **details) is None:
        return False
    if item.valid_to is not None:
        book.add_grant(account_id, t.posting_id, item.amount, item.source, pending=False, **details)
    return True


def dedupe_key(item: TransactionItem) -> str:
    """The idempotency key of a transaction item (its scope is the member)."""
    if item.transaction_id is not None:
        return f"pm-tx:{item.transaction_id}"
    parts = [
        item.definition_id,
        item.time_stamp.astimezone(UTC).isoformat(),
        item.amount,
        item.source_name.lower(),
    ]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return f"pm-item:{digest}"


@dataclass
class _Balance:
    index: int
    item: BalanceItem
    account_id: UUID


class _Balances(_Applier):
    async def run(self) -> Outcome:
        parsed = await self._parse(balance_item)
        accounts = await ensure_accounts(self.tenant_id, {(m, d.id) for _, _, d, m in parsed})
        items = [_Balance(i, item, accounts[(m, d.id)]) for i, item, d, m in parsed]
        await ensure_snapshots(self.tenant_id, {b.account_id for b in items})
        for start in range(0, len(items), CHUNK_ITEMS):
            self.outcome.merge(await self._chunk(items[start : start + CHUNK_ITEMS]))
        return self.outcome

    async def _chunk(self, chunk: list[_Balance]) -> Outcome:
        outcome = Outcome()
        async with in_transaction() as conn:
            book = AccountBook(conn, clock.now())
            account_ids = {b.account_id for b in chunk}
            await book.lock(account_ids)
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
            if moved:
                fields = ["snapshot_at", "amount", "batch_id", "updated_at"]
                await BalanceSnapshot.bulk_update(list(moved.values()), fields, using_db=conn)
            await book.write()
        return outcome

    def _set(self, book: AccountBook, b: _Balance) -> None:
        difference = b.item.amount - book.accounts[b.account_id].balance
        if not difference:
            return
        entry = book.post(
            b.account_id,
            difference,
            LedgerSource.BALANCE_SYNC,
            description=f"Balance set to {b.item.amount} by the point master "
            f"(snapshot {voyado_time(b.item.time_stamp)})",
            actor=self.actor,
        )
        if entry is None:  # the target is >= 0 and the account is locked
            raise RuntimeError(f"balance sync would overdraw account {b.account_id}")
