"""Point adjustments: applied here (MASTER) or forwarded to the point master."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.pointmaster.tables import ForwardedAdjustment
from models.points import adjustments as m
from schema.common import PageInfo
from schema.loaders import loaders
from schema.pointmaster import PointMasterError
from schema.points import LedgerEntry, PointAccount

AdjustmentStatus = strawberry.enum(
    m.AdjustmentStatus,
    name="AdjustmentStatus",
    description="SENT_TO_MASTER (in the outbox) -> DELIVERED (2xx) -> REFLECTED (a later sync "
    "batch for the contact and definition was applied; for a redemption's: a snapshot taken "
    "after its delivery, or a transaction echoing its id); DELIVERY_FAILED once retries ran out "
    "(or when it could not be sent)",
)


@strawberry.type(
    description="An adjustment sent to the point master: an admin's or automation's (applied "
    "there, not here), or a redemption's deduction or refund (applied here too)"
)
class PointAdjustment:
    id: strawberry.ID = strawberry.field(description="The `id` of the loyalty.addPoints body")
    member_id: strawberry.ID
    point_definition_id: strawberry.ID
    contact_id: str
    amount: int
    source: str = strawberry.field(description="Manual or Automation")
    description: str
    reason: str
    key_id: str = strawberry.field(description="The key the payload was encrypted with")
    delivery_id: strawberry.ID | None = strawberry.field(
        description="Its webhook delivery: attempts, replay"
    )
    actor: str
    created_at: datetime
    reflected_at: datetime | None
    applied_locally: bool = strawberry.field(
        description="Applied here when it was made (a redemption's): sync does not apply it again"
    )
    redemption_id: strawberry.ID | None = strawberry.field(
        description="The redemption whose points it moved"
    )
    model: strawberry.Private[ForwardedAdjustment]

    @strawberry.field
    async def status(self, info: strawberry.Info) -> AdjustmentStatus:  # type: ignore[valid-type]
        delivery_id = self.model.delivery_id
        if self.model.reflected_at is not None or delivery_id is None:
            return m.status_of(self.model, None)
        return m.status_of(self.model, await loaders(info).delivery.load(delivery_id))

    @classmethod
    def from_model(cls, a: ForwardedAdjustment) -> PointAdjustment:
        return cls(
            id=strawberry.ID(str(a.id)),
            member_id=strawberry.ID(str(a.member_id)),
            point_definition_id=strawberry.ID(str(a.point_definition_id)),
            contact_id=a.contact_id,
            amount=a.amount,
            source=a.source,
            description=a.description,
            reason=a.reason,
            key_id=a.key_id,
            delivery_id=strawberry.ID(str(a.delivery_id)) if a.delivery_id else None,
            actor=a.actor,
            created_at=a.created_at,
            reflected_at=a.reflected_at,
            applied_locally=a.applied_locally,
            redemption_id=strawberry.ID(str(a.redemption_id)) if a.redemption_id else None,
            model=a,
        )


@strawberry.type
class PointAdjustmentConnection:
    nodes: list[PointAdjustment]
    page_info: PageInfo


@strawberry.input(
    description="An admin's adjustment is Manual; an API key's is an Automation's, which may "
    "name its process and workflow"
)
class AdjustPointsInput:
    member_id: strawberry.ID | None = None
    external_user_id: str | None = None
    point_definition_id: strawberry.ID | None = None
    amount: int
    description: str = ""
    reason: str = ""
    process_id: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class AdjustPointsPayload:
    applied: bool = strawberry.field(
        default=False, description="true: posted to the ledger here (the engine owns the points)"
    )
    entry: LedgerEntry | None = None
    account: PointAccount | None = None
    adjustment: PointAdjustment | None = strawberry.field(
        default=None, description="Set when it was forwarded to the point master instead"
    )
    errors: list[PointMasterError] = strawberry.field(default_factory=list)
