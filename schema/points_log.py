"""A member's points log, as the point master keeps it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.pointmaster import points_log as m

PointsLogErrorCode = strawberry.enum(m.PointsLogErrorCode, name="PointsLogErrorCode")


@strawberry.type
class PointsLogEntry:
    transaction_date: datetime
    amount: int
    description: str


@strawberry.type
class PointsLogError:
    code: PointsLogErrorCode  # type: ignore[valid-type]
    message: str


@strawberry.type
class PointsLog:
    contact_id: str = strawberry.field(description="The id the master knows the member by")
    entries: list[PointsLogEntry] | None = strawberry.field(
        description="Newest as the master orders them; empty = none; null = no copy at all"
    )
    fetched_at: datetime | None = strawberry.field(description="When these entries were fetched")
    from_cache: bool = strawberry.field(description="Served from the cache, within its TTL")
    stale: bool = strawberry.field(
        description="The master could not be read now (see `error`): this is the last good copy"
    )
    error: PointsLogError | None

    @classmethod
    def from_view(cls, v: m.PointsLogView) -> PointsLog:
        return cls(
            contact_id=v.contact_id,
            entries=None
            if v.entries is None
            else [
                PointsLogEntry(
                    transaction_date=datetime.fromisoformat(e["transactionDate"]),
                    amount=e["amount"],
                    description=e["description"],
                )
                for e in v.entries
            ],
            fetched_at=v.fetched_at,
            from_cache=v.from_cache,
            stale=v.stale,
            error=PointsLogError(code=v.error_code, message=v.error_message or "")
            if v.error_code
            else None,
        )
