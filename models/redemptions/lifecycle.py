"""The redemption state machine (DESIGN.md "Redemption lifecycle").

Each transition is a conditional UPDATE on the current status, so of two concurrent
requests only one moves the redemption; the other re-reads and is either a no-op (same
target) or refused. FAILED refunds the points and returns the stock exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.text import json_problem
from models.catalog.code_draws import return_codes
from models.catalog.tables import MemberRewardUsage, Reward
from models.db.field_limits import (
    MAX_FULFILLMENT_DATA_BYTES,
    MAX_REASON,
    check_json_size,
    check_text,
)
from models.db.guarded_updates import guarded_add
from models.db.transactions import atomic
from models.live.effects import redemption_changed
from models.members.tables import Member
from models.pointmaster.redemption_forwards import forward_refund
from models.points.ledger import lock_account, post_entry
from models.points.tables import LedgerSource
from models.redemptions.codes import RedemptionCode
from models.redemptions.tables import (
    TERMINAL_STATUSES,
    Redemption,
    RedemptionEvent,
    RedemptionEventKind,
    RedemptionStatus,
)
from models.webhooks.outbox import add_deliveries
from models.webhooks.payloads import status_changed
from models.webhooks.tables import PayloadFormat, WebhookEvent

S = RedemptionStatus


class Via(StrEnum):
    CALLBACK = "CALLBACK"  # the tenant's fulfilment backend reports an outcome
    ADMIN = "ADMIN"  # a tenant admin confirms (FULFILLED) or cancels (FAILED)
    PROVIDER = "PROVIDER"  # the webhook response of the fulfilment backend


ALLOWED: dict[tuple[Via, RedemptionStatus], frozenset[RedemptionStatus]] = {
    (Via.CALLBACK, S.REDEEMED): frozenset(
        {S.FULFILLED, S.FAILED, S.POSTPONED, S.RECOVERABLE_FAILURE}
    ),
    (Via.CALLBACK, S.POSTPONED): frozenset({S.FULFILLED, S.FAILED}),
    (Via.PROVIDER, S.REDEEMED): frozenset({S.FULFILLED, S.POSTPONED}),
    (Via.ADMIN, S.REDEEMED): frozenset({S.FULFILLED, S.FAILED}),
    (Via.ADMIN, S.POSTPONED): frozenset({S.FULFILLED, S.FAILED}),
    (Via.ADMIN, S.RECOVERABLE_FAILURE): frozenset({S.FULFILLED, S.FAILED}),
}

_MAX_RACES = 5


@dataclass(frozen=True)
class Transition:
    redemption: Redemption
    changed: bool
    from_status: RedemptionStatus


def allowed(via: Via, current: RedemptionStatus, target: RedemptionStatus) -> bool:
    return target in ALLOWED.get((via, current), frozenset())


async def transition(
    tenant_id: UUID,
    redemption_id: UUID,
    target: RedemptionStatus,
    via: Via,
    *,
    actor: str,
    data: dict[str, Any] | None = None,
    reason: str | None = None,
    occurred_at: datetime | None = None,
) -> Transition:
    """Move the redemption to `target`. `occurred_at` is when the caller says it happened
    (e.g. the provider's `fulfilled_at`); it is kept on the timeline event."""
    # The API refuses such text at the door; a provider's webhook answer arrives here directly.
    problem = json_problem({"data": data, "reason": reason})
    if problem is not None:
        raise InvalidInput(problem.message, field=problem.field, code=problem.code)
    check_json_size(data, MAX_FULFILLMENT_DATA_BYTES, "data")
    check_text(reason, MAX_REASON, "reason")
    for _ in range(_MAX_RACES):
        redemption = await Redemption.get_or_none(id=redemption_id, tenant_id=tenant_id)
        if redemption is None:
            raise NotFound("Redemption not found", field="id")
        current = RedemptionStatus(redemption.status)
        if current == target:
            if data is not None and redemption.fulfillment_data not in (None, data):
                raise Conflict(
                    "The redemption was already completed with other data",
                    field="data",
                    code=RedemptionCode.CONTRADICTING_CALLBACK,
                )
            if data is not None and redemption.fulfillment_data is None:
                # E.g. an admin confirmed first and the voucher code arrives afterwards.
                await _add_data(redemption, data, actor)
            return Transition(redemption, changed=False, from_status=current)
        if not allowed(via, current, target):
            code = (
                RedemptionCode.ALREADY_FINAL
                if current in TERMINAL_STATUSES
                else RedemptionCode.INVALID_TRANSITION
            )
            raise Conflict(
                f"Cannot move a {current.value} redemption to {target.value}",
                field="status",
                code=code,
            )
        async with atomic() as conn:
            moved = await _move(
                conn, redemption, current, target, via, actor, data, reason, occurred_at
            )
            if moved:
                return Transition(redemption, True, current)
        # Someone else moved it first: look again.
    raise Conflict("The redemption is changing too fast, retry", code=ErrorCode.CONCURRENT_UPDATE)


async def _move(
    conn: BaseDBAsyncClient,
    redemption: Redemption,
    current: RedemptionStatus,
    target: RedemptionStatus,
    via: Via,
    actor: str,
    data: dict[str, Any] | None,
    reason: str | None,
    occurred_at: datetime | None,
) -> bool:
    """The move in one transaction; False if another request moved it first. After
    commit: the `redemption.status_changed` webhooks and live subscribers are told."""
    now = clock.now()
    changes: dict[str, Any] = {"status": target, "updated_at": now}
    if data is not None:
        changes["fulfillment_data"] = data
    if reason is not None:
        changes["reason"] = reason
    if target == S.FAILED:
        changes["refunded_at"] = now
    if target == S.FULFILLED:
        changes["fulfilled_at"] = occurred_at or now
    moved = (
        await Redemption.filter(id=redemption.id, status=current).using_db(conn).update(**changes)
    )
    if not moved:
        return False
    for name, value in changes.items():
        setattr(redemption, name, value)
    events = [
        RedemptionEvent(
            tenant_id=redemption.tenant_id,
            redemption_id=redemption.id,
            kind=RedemptionEventKind.STATUS_CHANGED,
            message=f"{current.value} -> {target.value}" + (f": {reason}" if reason else ""),
            from_status=current,
            to_status=target,
            data={
                "via": via.value,
                "data": data,
                "reason": reason,
                "occurredAt": occurred_at.isoformat() if occurred_at else None,
            },
            actor=actor,
            created_at=now,
        )
    ]
    if target == S.FAILED:
        events += await _refund(conn, redemption, actor, now)
    await RedemptionEvent.bulk_create(events, using_db=conn)
    await announce_status_change(conn, redemption, current, reason, now)
    redemption_changed(redemption.tenant_id, redemption.id, now)
    return True


async def announce_status_change(
    conn: BaseDBAsyncClient,
    redemption: Redemption,
    old_status: RedemptionStatus,
    reason: str | None,
    now: datetime,
) -> None:
    """Outbox rows for the tenant's `redemption.status_changed` webhooks (one shape for
    every format: the other platforms have none for status changes). The member is read
    once, when the first endpoint wants the event."""
    member: Member | None = None

    async def payload_for(_fmt: PayloadFormat) -> dict[str, Any]:
        nonlocal member
        if member is None:
            member = await Member.filter(id=redemption.member_id).using_db(conn).get()
        return status_changed(
            redemption=redemption, member=member, old_status=old_status, reason=reason, sent_at=now
        )

    await add_deliveries(
        conn,
        redemption.tenant_id,
        WebhookEvent.REDEMPTION_STATUS_CHANGED.value,
        payload_for,
        redemption_id=redemption.id,
        now=now,
    )


async def _add_data(redemption: Redemption, data: dict[str, Any], actor: str) -> None:
    async with atomic() as conn:
        added = (
            await Redemption.filter(id=redemption.id, fulfillment_data__isnull=True)
            .using_db(conn)
            .update(fulfillment_data=data, updated_at=clock.now())
        )
        if not added:
            return
        redemption.fulfillment_data = data
        await RedemptionEvent.create(
            tenant_id=redemption.tenant_id,
            redemption_id=redemption.id,
            kind=RedemptionEventKind.DATA_ADDED,
            message="Fulfilment data added",
            data={"data": data},
            actor=actor,
            created_at=clock.now(),
            using_db=conn,
        )
        redemption_changed(redemption.tenant_id, redemption.id, clock.now())


async def _refund(
    conn: BaseDBAsyncClient, redemption: Redemption, actor: str, now: Any
) -> list[RedemptionEvent]:
    """The refund's events; the point master is told (follower mode) after commit."""
    events = []
    account = await lock_account(conn, redemption.member_id, redemption.definition_id)
    if account is not None and redemption.points_spent > 0:
        entry = await post_entry(
            conn,
            account,
            redemption.points_spent,
            LedgerSource.REFUND,
            description=f"Refund of redemption {redemption.id}",
            actor=actor,
            redemption_id=redemption.id,
            at=now,
        )
        assert entry is not None  # a credit is never refused
        forwarded = await forward_refund(conn, redemption, actor, now)
        events.append(
            RedemptionEvent(
                tenant_id=redemption.tenant_id,
                redemption_id=redemption.id,
                kind=RedemptionEventKind.POINTS_REFUNDED,
                message=f"{redemption.points_spent} points returned",
                data={
                    "amount": redemption.points_spent,
                    "balanceBefore": entry.balance_before,
                    "balanceAfter": entry.balance_after,
                    "ledgerEntryId": str(entry.id),
                    "forwardedAdjustmentId": str(forwarded.id) if forwarded else None,
                },
                actor=actor,
                created_at=now,
            )
        )
    usage = (
        await MemberRewardUsage.filter(
            member_id=redemption.member_id, reward_id=redemption.reward_id
        )
        .using_db(conn)
        .first()
    )
    if usage is not None:
        await guarded_add(conn, MemberRewardUsage, "redeemed_count", usage.id, -redemption.quantity)
    returned = await return_codes(conn, redemption.id, redemption.reward_id, now)
    if returned:
        events.append(
            RedemptionEvent(
                tenant_id=redemption.tenant_id,
                redemption_id=redemption.id,
                kind=RedemptionEventKind.STOCK_RETURNED,
                message=f"{returned} code(s) returned to the reward's pool",
                data={"codesReturned": returned},
                actor=actor,
                created_at=now,
            )
        )
    restocked = await guarded_add(conn, Reward, "stock", redemption.reward_id, redemption.quantity)
    if restocked is not None:
        events.append(
            RedemptionEvent(
                tenant_id=redemption.tenant_id,
                redemption_id=redemption.id,
                kind=RedemptionEventKind.STOCK_RETURNED,
                message=f"{redemption.quantity} returned to stock",
                data={"quantity": redemption.quantity, "stockAfter": restocked},
                actor=actor,
                created_at=now,
            )
        )
    return events
