"""The rows a redemption starts with: the redemption itself and its first two events.

Written by the general way (models.redemptions.redeem) and by the one-statement way
(models.redemptions.one_statement) alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from models.catalog.tables import Reward
from models.redemptions.tables import (
    Redemption,
    RedemptionEventKind,
    RedemptionStatus,
)


class Redeemer(Protocol):
    """What the rows take of the member: a Member, or its id alone with the rest read by
    the one statement (models.redemptions.one_statement)."""

    @property
    def id(self) -> Any: ...

    @property
    def external_user_id(self) -> Any: ...

    @property
    def email(self) -> Any: ...


def new_redemption(
    redemption_id: UUID, member: Redeemer, reward: Reward, quantity: int, now: datetime
) -> Redemption:
    return Redemption(
        id=redemption_id,
        tenant_id=reward.tenant_id,
        member_id=member.id,
        reward_id=reward.id,
        definition_id=reward.definition_id,
        quantity=quantity,
        points_spent=reward.point_cost * quantity,
        status=RedemptionStatus.REDEEMED,
        created_at=now,
        updated_at=now,
    )


def first_event_fields(
    redemption: Redemption,
    member: Redeemer,
    reward: Reward,
    actor: str,
    *,
    balance_before: int,
    balance_after: int,
    entry_id: UUID | None,
    forwarded_id: UUID | None,
) -> list[dict[str, Any]]:
    """The fields of REDEEM_REQUESTED and POINTS_WITHDRAWN, in the shapes Xtremepush's
    timeline uses: the general way makes RedemptionEvent models of them, the one-statement
    way rows (models.db.bulk_statements.db_row)."""
    at, quantity, cost = redemption.created_at, redemption.quantity, redemption.points_spent
    return [
        {
            "tenant_id": redemption.tenant_id,
            "redemption_id": redemption.id,
            "kind": RedemptionEventKind.REDEEM_REQUESTED,
            "message": f"Redeem requested: {quantity} x {reward.name}",
            "to_status": RedemptionStatus.REDEEMED,
            # Xtremepush's "User initially triggered redeem option" names the user.
            "data": {
                "quantity": quantity,
                "pointCost": reward.point_cost,
                "userId": str(member.id),
                "externalUserId": member.external_user_id,
                "email": member.email,
            },
            "actor": actor,
            "created_at": at,
        },
        {
            "tenant_id": redemption.tenant_id,
            "redemption_id": redemption.id,
            "kind": RedemptionEventKind.POINTS_WITHDRAWN,
            "message": f"{cost} points withdrawn",
            # Xtremepush's "Token withdrawal": the user, the transaction, the balances.
            "data": {
                "amount": cost,
                "userId": str(member.id),
                "transactionId": str(redemption.id),
                "balanceBefore": balance_before,
                "balanceAfter": balance_after,
                "ledgerEntryId": str(entry_id) if entry_id else None,
                "forwardedAdjustmentId": str(forwarded_id) if forwarded_id else None,
            },
            "actor": actor,
            "created_at": at,
        },
    ]
