"""Point-master uploads: accept a batch durably, apply it in a worker, report its status.

Applying (models.pointmaster.applying) is safe to repeat (jobs can run more than once, and a master
can re-send) and to run concurrently with another worker:
- a transaction item posts only together with its idempotency key, made of (contact,
  definition, timeStamp, amount, source) or of its explicit `transactionId`, so the same
  item is never applied twice, even by two batches applied concurrently;
- a balance item moves the account only if its snapshot is newer than the last applied
  one, read under the account's lock, so an out-of-order batch never rolls a balance back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q

from core import clock
from core.after_commit import Once, after_commit
from core.errors import InvalidInput, NotFound, Refused
from core.jobs import APPLY_SYNC_BATCH, sync_batch_job_id
from core.queue import JobQueue
from models.db.transactions import atomic
from models.pointmaster.apply_balances import BalancesApplier
from models.pointmaster.apply_transactions import TransactionsApplier
from models.pointmaster.applying import Outcome
from models.pointmaster.codes import PointMasterCode
from models.pointmaster.items import voyado_time
from models.pointmaster.modes import mode_in_use
from models.pointmaster.tables import SyncBatch, SyncKind, SyncStatus
from models.points.adjustments import reflect_adjustments
from models.tenancy.tables import PointMode, Tenant
from models.webhooks.catalogue import batch_failed_items
from models.webhooks.outbox import add_deliveries
from models.webhooks.tables import WebhookEvent

MAX_ITEMS = 1000
LEASE = timedelta(minutes=5)
# After a failed attempt, the next one waits this long; after MAX_ATTEMPTS the batch FAILED.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Claims whose worker died before recording anything (killed, out of memory) also count.
MAX_CRASHES = 3
log = logging.getLogger(__name__)
MODE_FOR = {
    SyncKind.BALANCES: PointMode.FOLLOWER_BALANCE,
    SyncKind.TRANSACTIONS: PointMode.FOLLOWER_TRANSACTIONS,
}


async def accept_batch(tenant_id: UUID, kind: SyncKind, body: Any) -> SyncBatch:
    """Store the upload as received (PENDING); after commit a worker is asked to apply it
    (a lost job is picked up by the `relay_sync_batches` cron)."""
    if not isinstance(body, list):
        raise InvalidInput("Send a JSON array of items", code=PointMasterCode.INVALID_JSON)
    if len(body) > MAX_ITEMS:
        raise InvalidInput(
            f"Too many items: at most {MAX_ITEMS}", code=PointMasterCode.TOO_MANY_ITEMS
        )
    if not body:
        raise InvalidInput("Send at least one item", code=PointMasterCode.EMPTY_BATCH)
    tenant = await Tenant.get(id=tenant_id)
    if not await mode_in_use(tenant, MODE_FOR[kind]):
        # Voyado answers this 400 "New point system not active"; masters built for it know it.
        overrides = (
            "each of its point definitions overrides it"
            if PointMode(tenant.point_mode) == MODE_FOR[kind]
            else "no point definition overrides it"
        )
        raise Refused(
            f"New point system not active: this tenant's point mode is {tenant.point_mode} "
            f"and {overrides}: {kind.value.lower()} uploads need {MODE_FOR[kind]}",
            code=PointMasterCode.WRONG_POINT_MODE,
        )
    now = clock.now()
    batch = await SyncBatch.create(
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
    after_commit(ApplyBatch(batch.id))
    return batch


@dataclass(frozen=True)
class ApplyBatch(Once):
    batch_id: UUID

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        await queue.enqueue(
            APPLY_SYNC_BATCH, str(self.batch_id), job_id=sync_batch_job_id(self.batch_id)
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
    if batch.attempts > MAX_ATTEMPTS + MAX_CRASHES:
        # Its workers kept dying while applying it (nothing recorded a failure).
        return await _failed(batch, "its workers stopped while applying it")
    kind = SyncKind(batch.kind)
    applier = BalancesApplier if kind == SyncKind.BALANCES else TransactionsApplier
    try:
        outcome = await applier(batch, MODE_FOR[kind]).run()
    except Exception as exc:
        log.warning("applying sync batch %s failed", batch.id, exc_info=True)
        reason = f"applying it failed ({type(exc).__name__})"
        if batch.attempts >= MAX_ATTEMPTS:
            return await _failed(batch, reason)
        return await _retry_later(batch, reason)
    done = clock.now()
    finished = {
        "status": SyncStatus.COMPLETED_WITH_ERRORS if outcome.rejected else SyncStatus.COMPLETED,
        "applied_count": outcome.applied,
        "messages": outcome.messages(),
        "leased_until": None,
        "finished_at": done,
        "updated_at": done,
    }
    # Forwarded adjustments the master now includes, before the batch says it is done: a
    # client that sees it done also sees them REFLECTED.
    for name, value in finished.items():
        setattr(batch, name, value)
    await reflect_adjustments(batch)
    async with atomic() as conn:
        await SyncBatch.filter(id=batch_id).using_db(conn).update(**finished)
        if outcome.rejected:
            await _announce_failed_items(conn, batch, outcome, done)
    await batch.refresh_from_db()
    return batch


async def _announce_failed_items(
    conn: BaseDBAsyncClient, batch: SyncBatch, outcome: Outcome, done: datetime
) -> None:
    """`sync.batch_failed_items`, with the batch's completion."""
    rejected = [outcome.rejected[i] for i in sorted(outcome.rejected)]
    body = batch_failed_items(
        batch.id, SyncKind(batch.kind).value, batch.item_count, outcome.applied, rejected, done
    )
    await add_deliveries(
        conn,
        batch.tenant_id,
        WebhookEvent.SYNC_BATCH_FAILED_ITEMS.value,
        lambda _fmt: body,
        now=done,
    )


def _message(text: str) -> dict[str, str]:
    return {"message": text, "timeStamp": voyado_time(clock.now())}


async def _retry_later(batch: SyncBatch, reason: str) -> SyncBatch:
    """Left PROCESSING under a lease that ends when the retry is due: the relay takes it then.
    Items applied before the failure are recognised as applied (see the module's doc)."""
    delay = RETRY_DELAYS[min(batch.attempts, len(RETRY_DELAYS)) - 1]
    now = clock.now()
    text = (
        f"Attempt {batch.attempts} of {MAX_ATTEMPTS}: {reason}; "
        f"retried after {voyado_time(now + delay)}"
    )
    await SyncBatch.filter(id=batch.id).update(
        leased_until=now + delay, messages=[_message(text)], updated_at=now
    )
    await batch.refresh_from_db()
    return batch


async def _failed(batch: SyncBatch, reason: str) -> SyncBatch:
    """The terminal state an admin sees (REST status, GraphQL `syncBatch`); never retried."""
    now = clock.now()
    text = f"The batch was not applied: {reason}, {batch.attempts} attempt(s); send it again"
    await SyncBatch.filter(id=batch.id).update(
        status=SyncStatus.FAILED,
        messages=[_message(text)],
        leased_until=None,
        finished_at=now,
        updated_at=now,
    )
    await batch.refresh_from_db()
    return batch
