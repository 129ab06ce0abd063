"""Redemptions and their timeline."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from models.redemptions import tables as m
from schema.common import PageInfo, RedemptionError, is_member
from schema.loaders import loaders, present
from schema.members import Member
from schema.rewards import Reward

RedemptionStatus = strawberry.enum(m.RedemptionStatus, name="RedemptionStatus")
RedemptionEventKind = strawberry.enum(m.RedemptionEventKind, name="RedemptionEventKind")
_MEMBER_VISIBLE_DATA = (
    m.RedemptionEventKind.POINTS_WITHDRAWN,
    m.RedemptionEventKind.POINTS_REFUNDED,
)


@strawberry.enum(description="What the tenant's fulfilment backend reports")
class CompletionStatus(Enum):
    FULFILLED = "FULFILLED"
    FAILED = "FAILED"
    POSTPONED = "POSTPONED"
    RECOVERABLE_FAILURE = "RECOVERABLE_FAILURE"


@strawberry.type
class RedemptionEvent:
    id: strawberry.ID
    kind: RedemptionEventKind  # type: ignore[valid-type]
    message: str
    from_status: RedemptionStatus | None  # type: ignore[valid-type]
    to_status: RedemptionStatus | None  # type: ignore[valid-type]
    actor: str
    created_at: datetime
    model: strawberry.Private[m.RedemptionEvent]

    @strawberry.field(
        description="Details; for member tokens only the points' balances (webhook bodies, "
        "answers and callback data are the tenant's)"
    )
    def data(self, info: strawberry.Info) -> JSON | None:
        if is_member(info) and self.model.kind not in _MEMBER_VISIBLE_DATA:
            return None
        return cast(JSON, self.model.data)

    @classmethod
    def from_model(cls, e: m.RedemptionEvent) -> RedemptionEvent:
        return cls(
            id=strawberry.ID(str(e.id)),
            kind=m.RedemptionEventKind(e.kind),
            message=e.message,
            from_status=m.RedemptionStatus(e.from_status) if e.from_status else None,
            to_status=m.RedemptionStatus(e.to_status) if e.to_status else None,
            model=e,
            actor=e.actor,
            created_at=e.created_at,
        )


@strawberry.type
class Redemption:
    id: strawberry.ID
    status: RedemptionStatus  # type: ignore[valid-type]
    quantity: int
    points_spent: int
    reason: str | None
    refunded_at: datetime | None
    fulfilled_at: datetime | None = strawberry.field(
        description="When it was fulfilled: the callback's fulfilled_at, else when recorded"
    )
    created_at: datetime
    updated_at: datetime
    model: strawberry.Private[m.Redemption]

    @strawberry.field(
        description="What the fulfilment gave (e.g. a voucher code); a member token sees it "
        "once the redemption is FULFILLED"
    )
    def fulfillment_data(self, info: strawberry.Info) -> JSON | None:
        if is_member(info) and self.model.status != m.RedemptionStatus.FULFILLED:
            return None
        return cast(JSON, self.model.fulfillment_data)

    @strawberry.field(description="The reward as it is now (archived rewards stay readable)")
    async def reward(self, info: strawberry.Info) -> Reward:
        found = await loaders(info).reward.load(self.model.reward_id)
        return Reward.from_model(present(found, "reward", self.model.reward_id))

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        found = await loaders(info).member.load(self.model.member_id)
        return Member.from_model(present(found, "member", self.model.member_id))

    @strawberry.field(description="The timeline, oldest first")
    async def events(self, info: strawberry.Info) -> list[RedemptionEvent]:
        rows = await loaders(info).timeline.load(self.model.id)
        return [RedemptionEvent.from_model(e) for e in rows]

    @classmethod
    def from_model(cls, r: m.Redemption) -> Redemption:
        return cls(
            id=strawberry.ID(str(r.id)),
            status=m.RedemptionStatus(r.status),
            quantity=r.quantity,
            points_spent=r.points_spent,
            reason=r.reason,
            refunded_at=r.refunded_at,
            fulfilled_at=r.fulfilled_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
            model=r,
        )


@strawberry.type
class RedemptionConnection:
    nodes: list[Redemption]
    page_info: PageInfo


@strawberry.input
class RedemptionFilter:
    status: list[RedemptionStatus] | None = None  # type: ignore[valid-type]
    member_id: strawberry.ID | None = None
    reward_id: strawberry.ID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@strawberry.type
class RedemptionPayload:
    redemption: Redemption | None = None
    errors: list[RedemptionError] = strawberry.field(default_factory=list)
