"""Point-master sync types: the tenant's point mode and its audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from models import pointmaster as m
from schema.common import AccountError


@strawberry.enum(description="Who owns the tenant's points")
class PointMode(Enum):
    MASTER = "MASTER"
    FOLLOWER_BALANCE = "FOLLOWER_BALANCE"
    FOLLOWER_TRANSACTIONS = "FOLLOWER_TRANSACTIONS"


@strawberry.type(description="A recorded switch of the tenant's point mode")
class PointModeChange:
    id: strawberry.ID
    old_mode: PointMode
    new_mode: PointMode
    actor: str
    reason: str
    created_at: datetime

    @classmethod
    def from_model(cls, c: m.PointModeChange) -> PointModeChange:
        return cls(
            id=strawberry.ID(str(c.id)),
            old_mode=PointMode(str(c.old_mode)),
            new_mode=PointMode(str(c.new_mode)),
            actor=c.actor,
            reason=c.reason,
            created_at=c.created_at,
        )


@strawberry.type
class PointModePayload:
    mode: PointMode | None = None
    change: PointModeChange | None = strawberry.field(
        default=None, description="The recorded change; null when the mode was already set"
    )
    errors: list[AccountError] = strawberry.field(default_factory=list)
