"""Point adjustments by an admin ("Manual") or an automation ("Automation").

Where the engine owns the points (MASTER) an adjustment is a ledger posting. Where the
point master owns them (a follower mode, for the definition concerned) nothing is
applied here: the adjustment becomes a `loyalty.addPoints` webhook to the master's
adjustment endpoint, written to the outbox in the same transaction as its
ForwardedAdjustment record, so the webhook pipeline's retries, signing, attempt log and
replay apply. Its status:

- SENT_TO_MASTER: in the outbox, not acknowledged yet (retrying if it failed);
- DELIVERED: the master answered 2xx;
- DELIVERY_FAILED: retries ran out (DEAD); an admin can replay the delivery;
- REFLECTED: a sync batch received after the delivery, with an applied item for the
  same contact and definition, has been applied (see `reflect_adjustments`).

A redemption's deduction and refund are forwarded too, but applied here at once
(models.pointmaster.redemption_forwards); sync reconciles those precisely instead: a balance snapshot
taken after their delivery, or a transaction echoing their id, reflects them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError

from core import clock
from core.errors import InvalidInput
from models.db.idempotency import claim_key, replayed_result, request_fingerprint, validate_key
from models.db.transactions import atomic
from models.members.tables import Member
from models.pointmaster.forwards import Forward, master_link, require_sent, write_forward
from models.pointmaster.modes import FOLLOWER_MODES, definition_mode
from models.pointmaster.tables import ForwardedAdjustment, SyncBatch, SyncStatus
from models.points.awards import MAX_AMOUNT, AwardRequest, PointsPosted, award_points, award_target
from models.points.tables import LedgerSource, PointDefinition
from models.webhooks.tables import DeliveryStatus, WebhookDelivery

MAX_TEXT = 500
_REJECTED_ITEM = re.compile(r"^Item (\d+): ")


class AdjustmentStatus(StrEnum):
    SENT_TO_MASTER = "SENT_TO_MASTER"
    DELIVERED = "DELIVERED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    REFLECTED = "REFLECTED"


@dataclass(frozen=True)
class Adjustment:
    tenant_id: UUID
    member_id: UUID
    definition_id: UUID | None
    amount: int
    description: str
    actor: str
    # Manual (an admin: user id and name) or Automation (process and workflow ids).
    automation: bool
    user_id: str = ""
    user_name: str = ""
    reason: str = ""
    process_id: str = ""
    workflow_id: str = ""
    workflow_name: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Adjusted:
    posted: PointsPosted | None = None  # applied here (MASTER)
    forwarded: ForwardedAdjustment | None = None  # sent to the master (follower mode)


def _text(value: str, field: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"At most {MAX_TEXT} characters", field=field)
    return value


def payload_fields(adj: Adjustment, member: Member, definition: PointDefinition) -> dict[str, Any]:
    """Exactly the fields the master's `loyalty.addPoints` payload has, per source."""
    common: dict[str, Any] = {
        "ContactId": member.external_user_id,
        "Amount": adj.amount,
        "Description": adj.description,
        "Source": "Automation" if adj.automation else "Manual",
        "PointDefinitionId": definition.external_id,
    }
    if adj.automation:
        return {
            **common,
            "Reason": adj.reason,
            "ProcessId": adj.process_id,
            "WorkflowId": adj.workflow_id,
            "WorkflowName": adj.workflow_name,
        }
    return {**common, "UserId": adj.user_id, "UserName": adj.user_name}


async def adjust_points(adj: Adjustment) -> Adjusted:
    if adj.amount == 0 or abs(adj.amount) > MAX_AMOUNT:
        raise InvalidInput("Amount must be non-zero and at most 10^9", field="amount")
    for value, field in ((adj.description, "description"), (adj.reason, "reason")):
        _text(value, field)
    key = validate_key(adj.idempotency_key)
    member, definition = await award_target(adj.tenant_id, adj.member_id, adj.definition_id)
    source = LedgerSource.AUTOMATION if adj.automation else LedgerSource.MANUAL
    # Same scope and fingerprint as award_points: a key names one adjustment whichever
    # way it went, also across a switch of the point mode.
    scope = f"points:{member.id}"
    fingerprint = request_fingerprint(
        definition.id, adj.amount, source, adj.description, None, None
    )
    forwarded = await _forwarded_before(adj.tenant_id, scope, key, fingerprint)
    if forwarded is not None:
        return Adjusted(forwarded=forwarded)
    if await definition_mode(definition) not in FOLLOWER_MODES:
        posted = await award_points(
            AwardRequest(
                tenant_id=adj.tenant_id,
                member_id=member.id,
                definition_id=definition.id,
                amount=adj.amount,
                source=source,
                description=adj.description,
                idempotency_key=key,
                actor=adj.actor,
            ),
            (member, definition),
        )
        return Adjusted(posted=posted)
    try:
        return await _forward(adj, member, definition, key, scope, fingerprint)
    except IntegrityError:  # a concurrent request with the same key won
        forwarded = await _forwarded_before(adj.tenant_id, scope, key, fingerprint)
        if forwarded is None:
            raise
        return Adjusted(forwarded=forwarded)


async def _forwarded_before(
    tenant_id: UUID, scope: str, key: str | None, fingerprint: str
) -> ForwardedAdjustment | None:
    """The adjustment an earlier request with this key forwarded (Conflict if the key
    named another request)."""
    earlier = await replayed_result(tenant_id, scope, key, fingerprint) if key else None
    return await ForwardedAdjustment.get_or_none(id=earlier) if earlier else None


async def _forward(
    adj: Adjustment,
    member: Member,
    definition: PointDefinition,
    key: str | None,
    scope: str,
    fingerprint: str,
) -> Adjusted:
    link = await master_link(adj.tenant_id)
    forwarded_id = uuid4()
    forward = Forward(
        member_id=member.id,
        definition_id=definition.id,
        fields=payload_fields(adj, member, definition),
        actor=adj.actor,
        reason=adj.reason,
    )
    async with atomic() as conn:
        if key:
            await claim_key(conn, adj.tenant_id, scope, key, fingerprint, forwarded_id)
        forwarded = await write_forward(
            conn, adj.tenant_id, link, forward, clock.now(), forwarded_id
        )
        require_sent(forwarded)
    return Adjusted(forwarded=forwarded)


def status_of(
    adjustment: ForwardedAdjustment, delivery: WebhookDelivery | None
) -> AdjustmentStatus:
    """The adjustment's status, given its delivery (None: deleted with its endpoint)."""
    if adjustment.reflected_at is not None:
        return AdjustmentStatus.REFLECTED
    if delivery is None:
        return AdjustmentStatus.DELIVERY_FAILED
    return {
        DeliveryStatus.DELIVERED: AdjustmentStatus.DELIVERED,
        DeliveryStatus.DEAD: AdjustmentStatus.DELIVERY_FAILED,
    }.get(DeliveryStatus(delivery.status), AdjustmentStatus.SENT_TO_MASTER)


def _applied_pairs(batch: SyncBatch) -> set[tuple[str, int]]:
    """(contactId, definitionId) of the batch's items that were not rejected."""
    rejected = set()
    for message in batch.messages:
        match = _REJECTED_ITEM.match(str(message.get("message", "")))
        if match:
            rejected.add(int(match.group(1)))
    pairs = set()
    for index, item in enumerate(batch.items):
        if index in rejected or not isinstance(item, dict):
            continue
        contact, definition = item.get("contactId"), item.get("definitionId")
        if isinstance(contact, str) and isinstance(definition, int | float):
            pairs.add((contact.strip(), int(definition)))
    return pairs


async def reflect_adjustments(batch: SyncBatch) -> int:
    """Called when a sync batch has been applied: the master's data now includes what was
    delivered to it before this batch was received, for the contacts and definitions the
    batch carries. Returns how many adjustments became REFLECTED."""
    if batch.status not in (SyncStatus.COMPLETED, SyncStatus.COMPLETED_WITH_ERRORS):
        return 0
    pairs = _applied_pairs(batch)
    if not pairs:
        return 0
    candidates = await ForwardedAdjustment.filter(
        tenant_id=batch.tenant_id,
        applied_locally=False,  # a redemption's: reflected by the appliers themselves
        reflected_at__isnull=True,
        contact_id__in=sorted({contact for contact, _ in pairs}),
        delivery__status=DeliveryStatus.DELIVERED,
        delivery__delivered_at__lte=batch.created_at,
    ).values_list("id", "contact_id", "definition_external_id")
    ids = [i for i, contact, definition in candidates if (contact, definition) in pairs]
    if not ids:
        return 0
    return await ForwardedAdjustment.filter(id__in=ids, reflected_at__isnull=True).update(
        reflected_at=clock.now(), reflected_batch_id=batch.id
    )
