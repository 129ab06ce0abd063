"""Point-master uploads over GraphQL: the same batches as the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from models.pointmaster import tables as m
from models.pointmaster.uploads import status_json
from schema.pointmaster import PointMasterError

SyncBatchKind = strawberry.enum(m.SyncKind, name="SyncBatchKind")
SyncBatchStatus = strawberry.enum(
    m.SyncStatus,
    name="SyncBatchStatus",
    description="Pending, Processing, Completed, CompletedWithErrors, Failed (see `messages`)",
)


@strawberry.type
class SyncMessage:
    message: str
    time_stamp: str


@strawberry.type(description="A stored upload; applied by a worker")
class SyncBatch:
    id: strawberry.ID
    kind: SyncBatchKind  # type: ignore[valid-type]
    status: SyncBatchStatus  # type: ignore[valid-type]
    time_stamp: str = strawberry.field(description="Last change, as the REST status answers it")
    messages: list[SyncMessage] = strawberry.field(
        description="One per rejected or ignored item, and a count of re-sent ones"
    )
    item_count: int
    applied_count: int
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_model(cls, b: m.SyncBatch) -> SyncBatch:
        status = status_json(b)
        return cls(
            id=strawberry.ID(status["id"]),
            kind=m.SyncKind(b.kind),
            status=m.SyncStatus(status["status"]),
            time_stamp=status["timeStamp"],
            messages=[
                SyncMessage(message=x["message"], time_stamp=x["timeStamp"])
                for x in status["messages"]
            ],
            item_count=b.item_count,
            applied_count=b.applied_count,
            created_at=b.created_at,
            finished_at=b.finished_at,
        )


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@strawberry.input(description="As an item of POST /api/v2/point-accounts/balances")
class PointBalanceInput:
    contact_id: str = strawberry.field(description="The member's externalUserId")
    amount: int
    definition_id: int = strawberry.field(description="The point definition's externalId")
    time_stamp: datetime

    def item(self) -> dict[str, Any]:
        return {
            "contactId": self.contact_id,
            "amount": self.amount,
            "definitionId": self.definition_id,
            "timeStamp": _time(self.time_stamp),
        }


@strawberry.input(description="As an item of POST /api/v2/point-accounts/transactions")
class PointTransactionInput:
    contact_id: str = strawberry.field(description="The member's externalUserId")
    amount: int
    definition_id: int = strawberry.field(description="The point definition's externalId")
    time_stamp: datetime
    source: str = strawberry.field(
        default="Other", description="Purchase, Adjustment, Return, Manual, Automation, Bonus"
    )
    description: str = ""
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "contactId": self.contact_id,
            "amount": self.amount,
            "definitionId": self.definition_id,
            "timeStamp": _time(self.time_stamp),
            "source": self.source,
            "description": self.description,
            "validFrom": _time(self.valid_from),
            "validTo": _time(self.valid_to),
        }
        if self.transaction_id is not None:
            item["transactionId"] = self.transaction_id
        return item


@strawberry.type
class SyncBatchPayload:
    batch: SyncBatch | None = None
    errors: list[PointMasterError] = strawberry.field(default_factory=list)
