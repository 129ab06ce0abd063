"""`adjustPoints`: applied here where the engine owns the points, else sent to the master."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.errors import DomainError, InvalidInput
from models.db.pagination import paginate
from models.pointmaster.reads import adjustments_for
from models.pointmaster.tables import ForwardedAdjustment
from models.points.adjustments import Adjustment, AdjustmentStatus, adjust_points
from models.points.grants import account_view
from models.points.reads import definitions_for
from models.tenancy.reads import admins_for
from models.webhooks.tables import DeliveryStatus
from resolvers.auth import ANYONE, BACKEND, Principal, parse_id, require, target_member
from resolvers.errors import query_error
from schema.adjustments import (
    AdjustPointsInput,
    AdjustPointsPayload,
    PointAdjustment,
    PointAdjustmentConnection,
)
from schema.common import PageInfo
from schema.pointmaster import PointMasterError
from schema.points import LedgerEntry, PointAccount


async def _adjustment(
    principal: Principal, input: AdjustPointsInput, member_id: UUID
) -> Adjustment:
    base = Adjustment(
        tenant_id=principal.tenant_id,
        member_id=member_id,
        definition_id=parse_id(input.point_definition_id, "pointDefinitionId"),
        amount=input.amount,
        description=input.description,
        reason=input.reason,
        actor=principal.actor,
        automation=principal.kind == "api_key",
        idempotency_key=input.idempotency_key,
    )
    if base.automation:
        return replace(
            base,
            process_id=input.process_id or "",
            workflow_id=input.workflow_id or "",
            workflow_name=input.workflow_name or "",
        )
    if input.process_id or input.workflow_id or input.workflow_name:
        raise InvalidInput(
            "Process and workflow ids are an automation's (API key)", field="processId"
        )
    admin = await admins_for(principal.reader).get(id=principal.subject_id)
    return replace(base, user_id=str(admin.id), user_name=admin.name or admin.email)


async def adjust_points_(info: strawberry.Info, input: AdjustPointsInput) -> AdjustPointsPayload:
    """Add (amount > 0) or remove points: an admin's is Manual, an API key's Automation.
    Where the point master owns the definition's points, nothing is applied here: the
    adjustment is sent to the master (encrypted) and shows as `adjustment`."""
    principal = require(info, BACKEND)
    try:
        member = await target_member(principal, input.member_id, input.external_user_id)
        done = await adjust_points(await _adjustment(principal, input, member.id))
    except DomainError as exc:
        return AdjustPointsPayload(errors=[PointMasterError.from_error(exc)])
    if done.forwarded is not None:
        return AdjustPointsPayload(adjustment=PointAdjustment.from_model(done.forwarded))
    assert done.posted is not None
    definition = await definitions_for(principal.reader).get(id=done.posted.account.definition_id)
    return AdjustPointsPayload(
        applied=True,
        entry=LedgerEntry.from_model(done.posted.entry) if done.posted.entry else None,
        account=await PointAccount.from_view(await account_view(done.posted.account), definition),
    )


async def point_adjustments(
    info: strawberry.Info,
    member_id: strawberry.ID | None = None,
    external_user_id: str | None = None,
    status: AdjustmentStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> PointAdjustmentConnection:
    """Adjustments sent to the point master, newest first. Admins and API keys see the
    tenant's (or one member's); a member token its own."""
    principal = require(info, ANYONE)
    with query_error():
        query = adjustments_for(principal.reader)
        if member_id is not None or external_user_id is not None:
            member = await target_member(principal, member_id, external_user_id)
            query = query.filter(member_id=member.id)
        if status is not None:
            query = _with_status(query, AdjustmentStatus(status))
        page = await paginate(query, first, after)
    return PointAdjustmentConnection(
        nodes=[PointAdjustment.from_model(a) for a in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


def _with_status(
    query: QuerySet[ForwardedAdjustment], status: AdjustmentStatus
) -> QuerySet[ForwardedAdjustment]:
    if status == AdjustmentStatus.REFLECTED:
        return query.filter(reflected_at__isnull=False)
    query = query.filter(reflected_at__isnull=True)
    if status == AdjustmentStatus.DELIVERED:
        return query.filter(delivery__status=DeliveryStatus.DELIVERED)
    if status == AdjustmentStatus.DELIVERY_FAILED:  # retries ran out, or never sendable
        return query.filter(Q(delivery__status=DeliveryStatus.DEAD) | Q(delivery_id__isnull=True))
    return query.filter(delivery__status=DeliveryStatus.PENDING)
