"""A redemption's points where the point master owns them (a follower mode).

The deduction is posted here at once, in the redemption's transaction, so the balance is
enforced as in MASTER mode; in the same transaction the master is told, as an Automation
`loyalty.addPoints` of -points_spent (ProcessId = the redemption id). A FAILED
redemption's refund (exactly once: models.redemptions.lifecycle) forwards +points_spent the same way.
Both records are `applied_locally`: sync must not apply them a second time
(models.pointmaster.apply_balances, models.pointmaster.apply_transactions).

A redemption is refused when it could not be told (no adjustment URL, no shared key,
endpoint disabled): spending points the master would hand back with its next snapshot
would let a member spend them twice. A refund is never refused (the fulfilment outcome is
a fact): without a link its forward is recorded undeliverable (DELIVERY_FAILED) and still
counts as not at the master in balance reconciliation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models.catalog.tables import Reward
from models.members.tables import Member
from models.pointmaster.forwards import (
    Forward,
    MasterLink,
    master_link_or_none,
    require_sent,
    write_forward,
)
from models.pointmaster.modes import FOLLOWER_MODES, effective_mode
from models.pointmaster.tables import ForwardedAdjustment
from models.points.adjustments import Adjustment, payload_fields
from models.points.tables import PointDefinition
from models.redemptions.tables import Redemption
from models.tenancy.tables import PointMode

REASON = "GamifyEngine"
REDEEM_WORKFLOW = "Reward redemption"
REFUND_WORKFLOW = "Redemption refund"


def master_owns(definition: PointDefinition, tenant_mode: PointMode | str) -> bool:
    """Whether the reward's currency follows a master (its own mode, else the tenant's)."""
    return effective_mode(definition, tenant_mode) in FOLLOWER_MODES


async def forward_spending(
    conn: BaseDBAsyncClient,
    link: MasterLink,
    redemption: Redemption,
    member: Member,
    reward: Reward,
    description: str,
    now: datetime,
) -> ForwardedAdjustment:
    """-points_spent to the master; Refused (rolling the redemption back) if unsendable.
    `reward` comes with its definition loaded."""
    definition = reward.definition
    adjustment = Adjustment(
        tenant_id=redemption.tenant_id,
        member_id=member.id,
        definition_id=definition.id,
        amount=-redemption.points_spent,
        description=description,
        actor=f"redemption:{redemption.id}",
        automation=True,
        reason=REASON,
        process_id=str(redemption.id),
        workflow_id=str(reward.id),
        workflow_name=REDEEM_WORKFLOW,
    )
    forwarded = await write_forward(
        conn,
        redemption.tenant_id,
        link,
        Forward(
            member_id=member.id,
            definition_id=definition.id,
            fields=payload_fields(adjustment, member, definition),
            actor=adjustment.actor,
            reason=REASON,
            applied_locally=True,
            redemption_id=redemption.id,
            idempotency_key=f"redemption:{redemption.id}",
        ),
        now,
    )
    require_sent(forwarded)
    return forwarded


async def forward_refund(
    conn: BaseDBAsyncClient, redemption: Redemption, actor: str, now: datetime
) -> ForwardedAdjustment | None:
    """+points_spent to the master, if the deduction was forwarded (None otherwise)."""
    spent = (
        await ForwardedAdjustment.filter(
            redemption_id=redemption.id, applied_locally=True, amount__lt=0
        )
        .using_db(conn)
        .first()
    )
    if spent is None:
        return None
    fields: dict[str, Any] = {
        **spent.payload_fields,
        "Amount": redemption.points_spent,
        "Description": f"Refund ({spent.description})",
        "WorkflowName": REFUND_WORKFLOW,
    }
    return await write_forward(
        conn,
        redemption.tenant_id,
        await master_link_or_none(redemption.tenant_id, conn),
        Forward(
            member_id=spent.member_id,
            definition_id=spent.point_definition_id,
            fields=fields,
            actor=actor,
            reason=spent.reason,
            applied_locally=True,
            redemption_id=redemption.id,
            idempotency_key=f"redemption:{redemption.id}:refund",
        ),
        now,
    )
