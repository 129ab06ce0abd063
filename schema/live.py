"""Types streamed to subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from models.live.messages import redemption_from_message
from models.redemptions.tables import RedemptionStatus as StatusModel
from schema.redemptions import Redemption, RedemptionEvent, RedemptionStatus
from schema.tenants import Tier


@strawberry.type
class RedemptionUpdate:
    event_id: strawberry.ID = strawberry.field(description="Resume after this with `after`")
    redemption: Redemption
    event: RedemptionEvent
    old_status: RedemptionStatus | None  # type: ignore[valid-type]
    new_status: RedemptionStatus  # type: ignore[valid-type]
    at: datetime

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> RedemptionUpdate:
        redemption, event = redemption_from_message(message)
        changed = event.to_status is not None and event.from_status is not None
        return cls(
            event_id=strawberry.ID(str(event.id)),
            redemption=Redemption.from_model(redemption),
            event=RedemptionEvent.from_model(event),
            old_status=StatusModel(event.from_status) if changed else None,
            # The status the event moved to (REDEEM_REQUESTED: REDEEMED, also when replayed
            # after later changes), else the redemption's; the same rule as the status filter.
            new_status=StatusModel(event.to_status or redemption.status),
            at=event.created_at,
        )


@strawberry.type
class BalanceUpdate:
    account_id: strawberry.ID
    point_definition_id: strawberry.ID
    balance: int
    pending: int | None = strawberry.field(
        description="Points whose validFrom is still ahead (null: history at the point master)"
    )
    expiring_soon: int | None = strawberry.field(
        description="Active points expiring within 30 days (null: history at the point master)"
    )
    history_at_master: bool = strawberry.field(
        description="FOLLOWER_BALANCE: the master sends totals only (see PointAccount)"
    )
    tier: Tier | None = strawberry.field(
        description="The member's tier now (a tier change is announced with the balances)"
    )
    at: datetime

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> BalanceUpdate:
        return cls(
            account_id=strawberry.ID(message["accountId"]),
            point_definition_id=strawberry.ID(message["definitionId"]),
            balance=message["balance"],
            pending=message["pending"],
            expiring_soon=message["expiringSoon"],
            history_at_master=message.get("historyAtMaster", False),
            tier=_tier(message.get("tier")),
            at=datetime.fromisoformat(message["at"]),
        )


@strawberry.input
class RedemptionUpdateFilter:
    status: list[RedemptionStatus] | None = None  # type: ignore[valid-type]
    member_id: strawberry.ID | None = None
    reward_id: strawberry.ID | None = None


def _tier(body: dict[str, Any] | None) -> Tier | None:
    if not body:
        return None
    return Tier(id=strawberry.ID(body["id"]), name=body["name"], rank=body["rank"])
