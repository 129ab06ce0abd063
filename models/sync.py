"""Point-master uploads: accept a batch durably, apply it in a worker, report its status.

Applying is safe to repeat (jobs can run more than once, and a master can re-send):
- a transaction item is posted through `award_points` with an idempotency key made of
  (contact, definition, timeStamp, amount, source), or of its explicit `transactionId`,
  so the same item is never applied twice, even by two batches applied concurrently;
- a balance item moves the account only if its snapshot is newer than the last applied
  one (a conditional UPDATE of the account's BalanceSnapshot), so an out-of-order batch
  never rolls a balance back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from core import clock
from core.errors import Conflict, DomainError, InvalidInput, NotFound
from models.adjustments import reflect_adjustments
from models.awards import AwardRequest, award_points
from models.grants import settle_account
from models.idempotency import replayed_result, request_fingerprint
from models.ledger import ensure_account, lock_account, post_entry
from models.membership import upsert_member
from models.point_modes import definition_mode, mode_in_use
from models.pointmaster import BalanceSnapshot, SyncBatch, SyncKind, SyncStatus
from models.points import LedgerSource, PointDefinition
from models.sync_items import (
    BalanceItem,
    ItemError,
    TransactionItem,
    balance_item,
    transaction_item,
    voyado_time,
)
from models.tenants import PointMode, Tenant

MAX_ITEMS = 1000
LEASE = timedelta(minutes=5)
ACTOR = "point_master"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
MODE_FOR = {
    SyncKind.BALANCES: PointMode.FOLLOWER_BALANCE,
    SyncKind.TRANSACTIONS: PointMode.FOLLOWER_TRANSACTIONS,
}


async def accept_batch(tenant_id: UUID, kind: SyncKind, body: Any) -> SyncBatch:
    """Store the upload as received (PENDING); the caller enqueues it after this returns."""
    if not isinstance(body, list):
        raise InvalidInput("Send a JSON array of items", code="INVALID_JSON")
    if len(body) > MAX_ITEMS:
        raise InvalidInput(f"Too many items: at most {MAX_ITEMS}", code="TOO_MANY_ITEMS")
    if not body:
        raise InvalidInput("Send at least one item", code="EMPTY_BATCH")
    tenant = await Tenant.get(id=tenant_id)
    if not await mode_in_use(tenant_id, MODE_FOR[kind]):
        raise Conflict(
            f"This tenant's point mode is {tenant.point_mode} and no point definition "
            f"overrides it: {kind.value.lower()} uploads need {MODE_FOR[kind]}",
            code="WRONG_POINT_MODE",
        )
    now = clock.now()
    return await SyncBatch.create(
        id=uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        status=SyncStatus.PENDING,
        items=body,
        item_count=len(body),
        messages=[],
        created_at=now,
        updated_at=now,
    )


async def get_batch(tenant_id: UUID, batch_id: str) -> SyncBatch:
    try:
        parsed = UUID(batch_id)
    except ValueError:
        raise NotFound("Batch not found", field="id") from None
    batch = await SyncBatch.get_or_none(id=parsed, tenant_id=tenant_id)
    if batch is None:
        raise NotFound("Batch not found", field="id")
    return batch


def status_json(batch: SyncBatch) -> dict[str, Any]:
    """The status endpoint's body: exactly `{messages, id, status, timeStamp}`."""
    return {
        "messages": list(batch.messages),
        "id": str(batch.id),
        "status": SyncStatus(batch.status).value,
        "timeStamp": voyado_time(batch.updated_at),
    }


async def due_batches(now: datetime | None = None, limit: int = 100) -> list[UUID]:
    """Batches nobody is applying: never picked up, or whose worker's lease ran out."""
    now = now or clock.now()
    rows = (
        await SyncBatch.filter(
            Q(status=SyncStatus.PENDING)
            | (Q(status=SyncStatus.PROCESSING) & Q(leased_until__lt=now))
        )
        .order_by("created_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    return [UUID(str(r)) for r in rows]


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)

    def reject(self, index: int, message: str) -> None:
        self.messages.append({"message": f"Item {index}: {message}", "timeStamp": _stamp()})


def _stamp() -> str:
    return voyado_time(clock.now())


async def apply_batch(batch_id: UUID) -> SyncBatch | None:
    """Apply a stored batch; None when it is done already or another worker holds it."""
    now = clock.now()
    claimed = await SyncBatch.filter(
        Q(id=batch_id)
        & (
            Q(status=SyncStatus.PENDING)
            | (Q(status=SyncStatus.PROCESSING) & Q(leased_until__lt=now))
        )
    ).update(
        status=SyncStatus.PROCESSING,
        leased_until=now + LEASE,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not claimed:
        return None
    batch = await SyncBatch.get(id=batch_id)
    applier = _Applier(batch)
    outcome = await applier.run()
    if outcome.duplicates:
        outcome.messages.append(
            {
                "message": f"{outcome.duplicates} item(s) were applied before; not applied again",
                "timeStamp": _stamp(),
            }
        )
    rejected = any(m["message"].startswith("Item ") for m in outcome.messages)
    done = clock.now()
    await SyncBatch.filter(id=batch_id).update(
        status=SyncStatus.COMPLETED_WITH_ERRORS if rejected else SyncStatus.COMPLETED,
        applied_count=outcome.applied,
        messages=outcome.messages,
        leased_until=None,
        finished_at=done,
        updated_at=done,
    )
    await batch.refresh_from_db()
    await reflect_adjustments(batch)  # forwarded adjustments the master now includes
    return batch


class _Applier:
    def __init__(self, batch: SyncBatch) -> None:
        self.batch = batch
        self.tenant_id = batch.tenant_id
        self.members: dict[str, UUID] = {}
        self.definitions: dict[int, PointDefinition | None] = {}
        self.modes: dict[int, PointMode] = {}  # each definition's effective point mode
        self.actor = f"{ACTOR}:{batch.id}"  # on each posting: which upload applied it

    async def run(self) -> Outcome:
        outcome = Outcome()
        apply = self._balance if self.batch.kind == SyncKind.BALANCES else self._transaction
        for index, raw in enumerate(self.batch.items):
            try:
                if await apply(raw, outcome, index):
                    outcome.applied += 1
            except ItemError as exc:
                outcome.reject(index, str(exc))
            except DomainError as exc:
                outcome.reject(index, exc.message)
        return outcome

    async def _member(self, contact_id: str) -> UUID:
        if contact_id not in self.members:
            member, _ = await upsert_member(self.tenant_id, contact_id)
            self.members[contact_id] = member.id
        return self.members[contact_id]

    async def _definition(self, external_id: int) -> PointDefinition:
        if external_id not in self.definitions:
            self.definitions[external_id] = await PointDefinition.get_or_none(
                tenant_id=self.tenant_id, external_id=external_id
            )
        definition = self.definitions[external_id]
        if definition is None:
            raise ItemError(f"definitionId {external_id} is not a point definition")
        if external_id not in self.modes:
            self.modes[external_id] = await definition_mode(definition)
        mode = self.modes[external_id]
        if mode != MODE_FOR[self.batch.kind]:
            raise ItemError(
                f"definitionId {external_id} is in point mode {mode.value}; "
                f"{self.batch.kind.value.lower()} uploads need {MODE_FOR[self.batch.kind].value}"
            )
        return definition

    async def _transaction(self, raw: Any, outcome: Outcome, index: int) -> bool:
        item = transaction_item(raw)
        definition = await self._definition(item.definition_id)
        member_id = await self._member(item.contact_id)
        key = _dedupe_key(item)
        scope = f"points:{member_id}"
        fingerprint = request_fingerprint(
            definition.id,
            item.amount,
            item.source,
            item.description,
            item.valid_from,
            item.valid_to,
        )
        try:
            if await replayed_result(self.tenant_id, scope, key, fingerprint):
                outcome.duplicates += 1
                return False
        except Conflict:
            return self._reused(item, outcome, index)
        request = AwardRequest(
            tenant_id=self.tenant_id,
            member_id=member_id,
            definition_id=definition.id,
            amount=item.amount,
            source=item.source,
            description=item.description,
            valid_from=item.valid_from,
            valid_to=item.valid_to,
            idempotency_key=key,
            actor=self.actor,
        )
        try:
            posted = await award_points(request)
        except Conflict as exc:
            if exc.code != "IDEMPOTENCY_CONFLICT":
                raise
            return self._reused(item, outcome, index)
        posting = posted.entry or posted.grant
        if posting is not None and posting.actor != self.actor:
            outcome.duplicates += 1  # a concurrent batch applied it first: this is its replay
            return False
        return True

    def _reused(self, item: TransactionItem, outcome: Outcome, index: int) -> bool:
        """The key was used for an item that differs in description or validity."""
        if item.transaction_id is None:
            outcome.duplicates += 1  # same contact/definition/time/amount/source: a re-send
        else:
            outcome.reject(
                index, f"transactionId {item.transaction_id} was applied with other values"
            )
        return False

    async def _balance(self, raw: Any, outcome: Outcome, index: int) -> bool:
        item = balance_item(raw)
        definition = await self._definition(item.definition_id)
        member_id = await self._member(item.contact_id)
        account = await ensure_account(self.tenant_id, member_id, definition.id)
        await BalanceSnapshot.bulk_create(
            [
                BalanceSnapshot(
                    id=uuid4(),
                    tenant_id=self.tenant_id,
                    account_id=account.id,
                    snapshot_at=NEVER,
                    amount=0,
                    updated_at=clock.now(),
                )
            ],
            ignore_conflicts=True,
        )
        return await self._set_balance(item, definition, member_id, outcome, index)

    async def _set_balance(
        self,
        item: BalanceItem,
        definition: PointDefinition,
        member_id: UUID,
        outcome: Outcome,
        index: int,
    ) -> bool:
        now = clock.now()
        async with in_transaction() as conn:
            account = await lock_account(conn, member_id, definition.id)
            assert account is not None  # ensured by the caller; never deleted alone
            newer = (
                await BalanceSnapshot.filter(account_id=account.id, snapshot_at__lt=item.time_stamp)
                .using_db(conn)
                .update(
                    snapshot_at=item.time_stamp,
                    amount=item.amount,
                    batch_id=self.batch.id,
                    updated_at=now,
                )
            )
            if not newer:
                last = await BalanceSnapshot.filter(account_id=account.id).using_db(conn).get()
                if last.snapshot_at > item.time_stamp:
                    outcome.reject(
                        index,
                        f"snapshot of {voyado_time(item.time_stamp)} is older than the last "
                        f"applied one ({voyado_time(last.snapshot_at)}); ignored",
                    )
                else:
                    outcome.duplicates += 1
                return False
            await settle_account(conn, account, now)
            difference = item.amount - account.balance
            if difference:
                entry = await post_entry(
                    conn,
                    account,
                    difference,
                    LedgerSource.BALANCE_SYNC,
                    description=f"Balance set to {item.amount} by the point master "
                    f"(snapshot {voyado_time(item.time_stamp)})",
                    actor=self.actor,
                    at=now,
                )
                if entry is None:  # the target is >= 0 and the account is locked
                    raise RuntimeError(f"balance sync would overdraw account {account.id}")
        return True


def _dedupe_key(item: TransactionItem) -> str:
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
