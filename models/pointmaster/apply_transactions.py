"""Applying a transactions upload: each item posted once, a chunk per transaction.

A transaction item posts only if its chunk's transaction inserted the item's idempotency
key (made of contact, definition, timeStamp, amount and source, or of its explicit
`transactionId`), in the member's scope as `awardPoints` keys are. A key already held is a
re-send (not applied twice) or, for a `transactionId` used with other values, a rejection;
a key inserted by a concurrent worker's transaction makes this one wait for its outcome.
A chunk never holds the same key twice: an item repeating a key of the current chunk starts
the next one, so it sees the first one's outcome. A deduction that would overdraw is
refused and its key given back, as `award_points` does.

A redemption's deduction or refund is applied here at once and forwarded to the master
(models.pointmaster.redemption_forwards); the master echoes the forward's id as the item's
`transactionId`. Such an item is recognised as already applied (never posted again, also
if echoed twice) and marks the forward REFLECTED.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from core import clock
from core.errors import InvalidInput
from models.db.idempotency import request_fingerprint
from models.db.transactions import atomic
from models.pointmaster.applying import CHUNK_ITEMS, BatchApplier, Outcome
from models.pointmaster.items import TransactionItem, dedupe_key, transaction_item
from models.pointmaster.tables import ForwardedAdjustment
from models.pointmaster.upload_rows import (
    KeyClaim,
    chunk_rows,
    claim_keys,
    key_fingerprints,
    release_keys,
)
from models.points.awards import MAX_BALANCE, AwardRequest, validate_award
from models.points.bulk_postings import AccountBook
from models.points.tables import LedgerSource

TOO_LOW = "The balance is too low for this deduction"
_ANY_MEMBER = UUID(int=0)


@dataclass
class _Tx:
    index: int
    item: TransactionItem
    definition_id: UUID
    member_id: UUID | None  # None until the chunk's transaction made the contact a member
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

    @property
    def contact_key(self) -> tuple[str, str]:
        """The key in the contact's scope: the same as scoped_key, known before the member."""
        return (self.item.contact_id, self.key)

    def invalid(self, tenant_id: UUID, now: datetime) -> str | None:
        return refusal(tenant_id, self.item, self.definition_id, now)


def refusal(
    tenant_id: UUID, item: TransactionItem, definition_id: UUID, now: datetime
) -> str | None:
    """Why award_points would refuse the item (amount, source, validity), or None. A validTo
    already past is no reason: the master's data is trusted ("all the data received will be
    trusted and used"), and such an item is recorded earned and expired at once (_post)."""
    valid_to = item.valid_to if item.valid_to is None or item.valid_to > now else None
    request = AwardRequest(
        tenant_id=tenant_id,
        member_id=_ANY_MEMBER,  # validation does not look at who
        definition_id=definition_id,
        amount=item.amount,
        source=item.source,
        description=item.description,
        valid_from=item.valid_from,
        valid_to=valid_to,
    )
    if item.amount < 0 and item.valid_to is not None:
        return "A deduction has no validity window"
    try:
        validate_award(request, now)
    except InvalidInput as exc:
        return exc.message
    return None


class TransactionsApplier(BatchApplier):
    async def run(self) -> Outcome:
        txs = []
        now = clock.now()

        def check(item: TransactionItem, definition: Any) -> str | None:
            return refusal(self.tenant_id, item, definition.id, now)

        # Items refused here never reach a chunk; a contact becomes a member in the chunk
        # that applies one of its items, and is dropped again there if all were refused.
        for index, item, definition, member_id in await self.parse(transaction_item, check):
            fingerprint = request_fingerprint(
                definition.id,
                item.amount,
                item.source,
                item.description,
                item.valid_from,
                item.valid_to,
            )
            txs.append(_Tx(index, item, definition.id, member_id, dedupe_key(item), fingerprint))
        txs = await self._without_echoes(txs)
        await self.apply_chunks(_chunks(txs), self._chunk)
        return self.outcome

    async def _chunk(self, chunk: list[_Tx]) -> Outcome:
        outcome = Outcome()
        for t in chunk:  # a retry (models.pointmaster.applying) starts afresh
            t.member_id = t.account_id = None
        async with atomic() as conn:
            valid = [t for t in chunk if t.invalid(self.tenant_id, clock.now()) is None]
            made = await chunk_rows(
                conn, self.tenant_id, {(t.item.contact_id, t.definition_id) for t in valid}
            )
            for t in valid:
                t.member_id = made.members[t.item.contact_id]
                t.account_id = made.accounts[(t.item.contact_id, t.definition_id)]
            book = await AccountBook.locked(
                conn, {t.account_id for t in chunk if t.account_id is not None}
            )
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
                conn, self.tenant_id, {t.scoped_key for t in chunk if t.member_id} - claimed
            )
            await book.load_lots(
                {t.account_id for t in chunk if t.account_id and t.item.amount < 0}
            )
            released, used = [], set()
            for t in chunk:
                if t.member_id is None or t.scoped_key not in claimed:
                    self._not_claimed(t, held.get(t.scoped_key), errors[t.index], outcome)
                elif (refused := _post(book, t, self.actor)) is None:
                    outcome.applied += 1
                    used.add(t.account_id)
                else:
                    outcome.reject(t.index, refused)
                    released.append(t.claim_id)
            await release_keys(conn, released)
            await book.write()
            await made.drop_unused(conn, {a for a in used if a is not None})
        return outcome

    async def _without_echoes(self, txs: list[_Tx]) -> list[_Tx]:
        """The items left to post once those echoing a redemption's forward are set aside."""
        ids = {i for t in txs if (i := _as_uuid(t.item.transaction_id)) is not None}
        if not ids:
            return txs
        forwards = {
            str(f.id): f
            for f in await ForwardedAdjustment.filter(
                tenant_id=self.tenant_id, applied_locally=True, id__in=list(ids)
            )
        }
        echoes, reflected = set(), []
        for t in txs:
            forward = forwards.get(t.item.transaction_id or "")
            if forward is None:
                continue
            echoes.add(t.index)
            if (forward.member_id, forward.point_definition_id, forward.amount) != (
                t.member_id,
                t.definition_id,
                t.item.amount,
            ):
                self.outcome.reject(
                    t.index,
                    f"transactionId {forward.id} is the engine's own adjustment of "
                    f"{forward.amount} for contact {forward.contact_id}, definitionId "
                    f"{forward.definition_external_id}; the item differs",
                )
                continue
            reflected.append(forward.id)
            self.outcome.note(
                t.index,
                f"already applied: transactionId {forward.id} is the engine's own "
                f"{forward.amount:+d} for redemption {forward.redemption_id}, applied when "
                "it was made; not applied again",
            )
        if reflected:
            await ForwardedAdjustment.filter(id__in=reflected, reflected_at__isnull=True).update(
                reflected_at=clock.now(), reflected_batch_id=self.batch.id
            )
        return [t for t in txs if t.index not in echoes]

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


def _as_uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _chunks(txs: list[_Tx]) -> Iterator[list[_Tx]]:
    """Up to CHUNK_ITEMS items, and never one key twice in a chunk."""
    chunk: list[_Tx] = []
    keys: set[tuple[str, str]] = set()
    for t in txs:
        if len(chunk) >= CHUNK_ITEMS or t.contact_key in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(t)
        keys.add(t.contact_key)
    if chunk:
        yield chunk


def _post(book: AccountBook, t: _Tx, actor: str) -> str | None:
    """What award_points does with one item; why it was refused (an overdraw, or a
    balance beyond what can be read back), None when posted."""
    item, account_id = t.item, t.account_id
    assert account_id is not None
    account = book.accounts[account_id]
    if item.amount > 0 and account.balance + account.pending + item.amount > MAX_BALANCE:
        return f"The balance (with pending points) would exceed {MAX_BALANCE}"
    details: dict[str, Any] = {
        "description": item.description,
        "actor": actor,
        "valid_from": item.valid_from,
        "valid_to": item.valid_to,
        "source_name": item.source_name,  # kept as sent, e.g. for an OTHER source
    }
    if item.amount > 0 and item.valid_from is not None and item.valid_from > book.now:
        book.add_grant(account_id, t.posting_id, item.amount, item.source, pending=True, **details)
        return None
    if not book.post(account_id, item.amount, item.source, entry_id=t.posting_id, **details):
        return TOO_LOW
    if item.valid_to is not None and item.valid_to <= book.now:
        # Earned and expired before it reached us: both in the ledger, nothing to settle.
        expired = f"Expired: {item.description}".strip()
        book.post(account_id, -item.amount, LedgerSource.EXPIRY, description=expired, actor=actor)
        return None
    if item.valid_to is not None:
        book.add_grant(account_id, t.posting_id, item.amount, item.source, pending=False, **details)
    return None
