"""Webhook jobs: deliver one delivery, and the relay that re-enqueues what is due.

Jobs are idempotent: a delivery is sent only under a lease, and recorded only while it
is still PENDING under that lease, so arq running a job twice sends at most one extra
attempt, which receivers dedupe on `webhook-id`. The leases and records of a worker's
concurrent jobs are written in batches (core/batching.py): two statements for a
batch of deliveries, not five per delivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from arq.worker import func

from core import clock
from core.batching import Batcher
from core.errors import DomainError
from core.jobs import DELIVER_WEBHOOK, delivery_job_id
from core.metrics import count_delivery
from core.settings import Settings
from core.signing import signature_headers
from models.live.effects import redemption_changed
from models.redemptions.lifecycle import Via, transition
from models.redemptions.tables import RedemptionStatus
from models.webhooks.attempts import Plan, give_up, plan, record_many
from models.webhooks.lease import Leased, lease_many
from models.webhooks.outbox import AttemptResult, due_deliveries
from models.webhooks.tables import DeliveryStatus, WebhookEvent
from workers.webhook_http import new_client, post

log = logging.getLogger(__name__)
# While busy, a batch waits this long for company (bench/README.md: draining a backlog,
# 1.7 database transactions per delivery without, 0.5 with these). A lease's wait delays
# the POST, a record's only the end of its job, so records wait longer.
LEASE_LINGER = 0.010
RECORD_LINGER = 0.020


@dataclass(frozen=True)
class _Writers:
    """The worker's group commits: leases, and attempt records."""

    lease: Batcher[tuple[UUID, timedelta], Leased | None]
    record: Batcher[Plan, bool]


_writers_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writers] = (
    weakref.WeakKeyDictionary()
)


def _writers() -> _Writers:
    loop = asyncio.get_running_loop()
    writers = _writers_by_loop.get(loop)
    if writers is None:
        writers = _writers_by_loop[loop] = _Writers(
            Batcher(_lease_batch, linger=LEASE_LINGER), Batcher(record_many, linger=RECORD_LINGER)
        )
    return writers


async def _lease_batch(items: list[tuple[UUID, timedelta]]) -> list[Leased | None]:
    now = clock.now()
    taken: dict[UUID, Leased] = {}
    for duration in {duration for _, duration in items}:
        ids = [delivery_id for delivery_id, d in items if d == duration]
        taken.update(await lease_many(ids, now, duration))
    # arq may run a job twice at once: only the first of the two gets the lease.
    return [taken.pop(delivery_id, None) for delivery_id, _ in items]


async def deliver(
    delivery_id: UUID, settings: Settings, client: Any, broker: Any = None
) -> tuple[DeliveryStatus | None, AttemptResult | None]:
    """One attempt for a due delivery. (None, None) when it is not ours to send now;
    (None, result) when the attempt outlived its lease and another attempt replaced it.

    With a broker, subscribers hear of the attempt and of any change the answer made."""
    started = clock.now()
    writers = _writers()
    duration = timedelta(seconds=settings.webhook_lease_seconds)
    leased = await writers.lease.submit((delivery_id, duration))
    if leased is None:
        return None, None
    if not leased.enabled:
        reason = "The endpoint is disabled"
        result = AttemptResult(None, 0, "", reason)
        return (DeliveryStatus.DEAD if await give_up(leased, reason) else None), result
    try:
        headers = signature_headers(
            leased.secrets, str(leased.id), int(clock.now().timestamp()), leased.body
        )
        result = await post(
            client, leased.url, leased.body, headers, allow_private=settings.webhook_allow_private
        )
    except Exception as exc:
        # Whatever this delivery's data makes fail (a URL or secret stored before today's
        # checks) must be a failed attempt on the retry schedule: unrecorded, the delivery
        # would be leased and sent again every relay, forever.
        log.warning("delivery %s failed before an answer", leased.id, exc_info=True)
        result = AttemptResult(None, 0, "", failure_text(exc))
    disable_after = timedelta(hours=settings.webhook_disable_after_hours)
    decided = plan(leased, result, disable_after=disable_after)
    try:
        applied = await writers.record.submit(decided)
    except Exception as exc:
        # The answer itself may be what cannot be stored (text the database refuses):
        # record the attempt without it, so the delivery still moves along its schedule.
        # If the database is away this fails too; the lease runs out and the relay retries.
        log.warning("attempt of delivery %s recorded without its answer", leased.id, exc_info=True)
        bare = AttemptResult(
            result.status_code,
            result.latency_ms,
            "",
            f"The answer could not be stored ({type(exc).__name__})",
            result.retry_after,
        )
        decided = plan(leased, bare, disable_after=disable_after)
        applied = await writers.record.submit(decided)
    if result.delivered and leased.event == WebhookEvent.REDEMPTION_CREATED:
        try:
            await apply_provider_answer(leased, result.response_body)
        except Exception:
            # Delivered and recorded: the redemption waits for the callback instead.
            log.exception("provider answer for delivery %s could not be applied", leased.id)
    if leased.redemption_id is not None:
        redemption_changed(leased.tenant_id, leased.redemption_id, started)
    return (decided.status if applied else None), result


def failure_text(exc: BaseException) -> str:
    """An exception as an attempt's error: bounded, and storable (PostgreSQL text holds no NUL)."""
    return f"{type(exc).__name__}: {exc}"[:500].replace("\x00", "\ufffd")


async def apply_provider_answer(delivery: Leased, body: str) -> None:
    """`{"status": "postponed"}` postpones; `{"status": "fulfilled", "data": {...}}` fulfils."""
    if delivery.redemption_id is None or not body.lstrip().startswith("{"):
        return
    try:
        answer = json.loads(body)
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    status = str(answer.get("status", "")).lower()
    target = {"postponed": RedemptionStatus.POSTPONED, "fulfilled": RedemptionStatus.FULFILLED}
    if status not in target:
        return
    data = answer.get("data") if isinstance(answer.get("data"), dict) else None
    try:
        await transition(
            delivery.tenant_id,
            delivery.redemption_id,
            target[status],
            Via.PROVIDER,
            actor="system:webhook-response",
            data=data,
        )
    except DomainError as exc:
        # E.g. the callback already completed it: the answer is stale, not an error.
        log.info("provider answer for %s ignored: %s", delivery.redemption_id, exc.message)


async def relay_due(enqueue: Any, now: Any = None, limit: int = 1000) -> int:
    """Enqueue a job for every due, unleased delivery. The outbox row is the truth:
    this recovers jobs lost to a crash between commit and enqueue, or to a flushed Redis."""
    due = await due_deliveries(now, limit)
    for delivery_id, attempt_key in due:
        await enqueue(
            DELIVER_WEBHOOK, str(delivery_id), _job_id=delivery_job_id(delivery_id, attempt_key)
        )
    return len(due)


async def _deliver_webhook(ctx: dict[str, Any], delivery_id: str) -> str:
    """arq job: one attempt of one delivery (see `deliver`)."""
    client = ctx.get("http")  # the worker's shared client, when its startup made one
    if client is not None:
        status, _ = await deliver(UUID(delivery_id), ctx["settings"], client, ctx.get("broker"))
    else:
        # arq gives each job a copy of the worker's ctx: a client stored in it here would
        # be lost after this job and its connections never closed, one per delivery.
        async with new_client(ctx["settings"].webhook_timeout) as client:
            status, _ = await deliver(UUID(delivery_id), ctx["settings"], client, ctx.get("broker"))
    count_delivery(status.value if status else "skipped")
    return status.value if status else "skipped"


# No result is kept: arq refuses a job id while its result is kept (an hour by default),
# and the relay names a job by the attempt it makes. A job that failed before taking its
# lease (the database refused a connection) or was skipped would otherwise keep that
# attempt from being relayed for an hour. The lease, not arq, keeps attempts single.
deliver_webhook = func(_deliver_webhook, name=DELIVER_WEBHOOK, keep_result=0)


async def relay_webhooks(ctx: dict[str, Any]) -> int:
    """arq cron: re-enqueue due deliveries (retries, lost jobs, replays)."""
    return await relay_due(ctx["redis"].enqueue_job)
