"""What a caller may read of redemptions and their timelines (models.tenancy.readers):
the tenant's; a member token only its own."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from models.db.batches import grouped
from models.redemptions.tables import Redemption, RedemptionEvent
from models.tenancy.readers import Reader


def redemptions_for(reader: Reader) -> QuerySet[Redemption]:
    query = Redemption.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(member_id=reader.member_id)
    return query


def redemption_events_for(reader: Reader) -> QuerySet[RedemptionEvent]:
    query = RedemptionEvent.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(redemption__member_id=reader.member_id)
    return query


async def timelines(reader: Reader, redemption_ids: Sequence[UUID]) -> list[list[RedemptionEvent]]:
    """Each redemption's events, oldest first."""
    return await grouped(
        redemption_events_for(reader).order_by("id"), "redemption_id", redemption_ids
    )
