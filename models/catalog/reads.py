"""What a caller may read of the reward catalog (models.tenancy.readers).

Backends and admins read all the tenant's rewards; a member token the live catalog only
(enabled, not archived). A reward named by a row the caller reads (its redemption) stays
readable after it is archived: `rewards_by_id` answers those."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from models.catalog.tables import Reward
from models.db.batches import by_ids
from models.tenancy.readers import Reader


def live_rewards_for(reader: Reader) -> QuerySet[Reward]:
    """The catalog: what can be redeemed (or could, but for the member's own limits)."""
    return Reward.filter(tenant_id=reader.tenant_id, archived_at__isnull=True, enabled=True)


def rewards_for(reader: Reader) -> QuerySet[Reward]:
    if reader.is_member:
        return live_rewards_for(reader)
    return Reward.filter(tenant_id=reader.tenant_id)


async def rewards_by_id(reader: Reader, ids: Sequence[UUID]) -> list[Reward | None]:
    """Rewards as other rows the caller reads name them (archived ones included)."""
    return await by_ids(Reward.filter(tenant_id=reader.tenant_id), ids)
