"""Writing a forward to the point master: the encrypted `loyalty.addPoints` outbox row and
its ForwardedAdjustment record, in the caller's transaction.

Both an admin's adjustment (models.points.adjustments) and a redemption's deduction or refund
(models.pointmaster.redemption_forwards) go this way, so the webhook pipeline's retries, signing,
attempt log and replay apply to each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from core.errors import DomainError, NotFound, Refused
from core.payload_crypto import encrypt_json
from models.pointmaster.codes import PointMasterCode
from models.pointmaster.tables import ForwardedAdjustment, PointMasterKey, PointMasterSettings
from models.tenancy.tables import Tenant
from models.webhooks.outbox import add_deliveries
from models.webhooks.payloads import add_points_body
from models.webhooks.tables import SystemEvent


@dataclass(frozen=True)
class MasterLink:
    """How forwards reach the tenant's master: its adjustment endpoint, the current key."""

    endpoint_id: UUID
    key: PointMasterKey
    tenant_slug: str


@dataclass(frozen=True)
class Forward:
    member_id: UUID
    definition_id: UUID
    fields: dict[str, Any]  # the payload's plaintext, exactly the master's field set
    actor: str
    reason: str = ""
    applied_locally: bool = False  # a redemption's points: already moved here
    redemption_id: UUID | None = None
    idempotency_key: str | None = None  # unique per tenant: one forward per key


async def master_link(
    tenant_id: UUID, tenant_slug: str | None = None, conn: BaseDBAsyncClient | None = None
) -> MasterLink:
    """The tenant's link to its master; Refused (NO_ADJUSTMENT_URL) or NotFound (NO_KEY)
    when nothing could be sent. `conn`: read inside the caller's transaction."""
    settings = await PointMasterSettings.filter(tenant_id=tenant_id).using_db(conn).first()
    if settings is None or settings.adjustment_endpoint_id is None:
        raise Refused(
            "The point master owns these points and no adjustment URL is set: "
            "setPointMasterSettings(adjustmentUrl) first",
            code=PointMasterCode.NO_ADJUSTMENT_URL,
        )
    key = (
        await PointMasterKey.filter(tenant_id=tenant_id, retired_at__isnull=True)
        .using_db(conn)
        .first()
    )
    if key is None:
        raise NotFound(
            "No key is shared with the point master: rotatePointMasterKey first",
            field="key",
            code=PointMasterCode.NO_KEY,
        )
    if tenant_slug is None:
        tenant_slug = (await Tenant.filter(id=tenant_id).using_db(conn).get()).slug
    return MasterLink(settings.adjustment_endpoint_id, key, tenant_slug)


async def master_link_or_none(tenant_id: UUID, conn: BaseDBAsyncClient) -> MasterLink | None:
    try:
        return await master_link(tenant_id, conn=conn)
    except DomainError:
        return None


async def write_forward(
    conn: BaseDBAsyncClient,
    tenant_id: UUID,
    link: MasterLink | None,
    forward: Forward,
    now: datetime,
    forwarded_id: UUID | None = None,
) -> ForwardedAdjustment:
    """The record and, when the link allows, its outbox row (sent after commit). Without a link or with the endpoint disabled the record has no delivery:
    it shows as DELIVERY_FAILED, and callers that must not go on call `require_sent`."""
    forwarded_id = forwarded_id or uuid4()
    delivery_ids: list[UUID] = []
    if link is not None:
        body = add_points_body(
            forwarded_id,
            encrypt_json(forward.fields, link.key.key),
            link.key.key_id,
            link.tenant_slug,
        )
        delivery_ids = await add_deliveries(
            conn,
            tenant_id,
            SystemEvent.LOYALTY_ADD_POINTS.value,
            lambda _fmt: body,
            now=now,
            only_endpoint=link.endpoint_id,
        )
    fields = forward.fields
    forwarded = await ForwardedAdjustment.create(
        id=forwarded_id,
        tenant_id=tenant_id,
        member_id=forward.member_id,
        point_definition_id=forward.definition_id,
        delivery_id=delivery_ids[0] if delivery_ids else None,
        contact_id=fields["ContactId"],
        definition_external_id=fields["PointDefinitionId"],
        amount=fields["Amount"],
        source=fields["Source"],
        description=fields["Description"],
        reason=forward.reason,
        payload_fields=fields,
        key_id=link.key.key_id if link is not None else "",
        idempotency_key=forward.idempotency_key,
        actor=forward.actor,
        created_at=now,
        applied_locally=forward.applied_locally,
        redemption_id=forward.redemption_id,
        using_db=conn,
    )
    return forwarded


def require_sent(forwarded: ForwardedAdjustment) -> None:
    """Refuse (the caller's transaction rolls back) when no delivery was written."""
    if forwarded.delivery_id is None:
        raise Refused(
            "The point master's adjustment endpoint is disabled: enable it or set "
            "the adjustment URL again",
            code=PointMasterCode.ADJUSTMENT_ENDPOINT_DISABLED,
        )
