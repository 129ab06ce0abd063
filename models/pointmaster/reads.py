"""What a caller may read of the point-master traffic (models.tenancy.readers): forwarded
adjustments (a member token: its own) and sync batches of the tenant."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from models.pointmaster.tables import ForwardedAdjustment, SyncBatch
from models.tenancy.readers import Reader


def adjustments_for(reader: Reader) -> QuerySet[ForwardedAdjustment]:
    query = ForwardedAdjustment.filter(tenant_id=reader.tenant_id)
    if reader.member_id is not None:
        query = query.filter(member_id=reader.member_id)
    return query


def sync_batches_for(reader: Reader) -> QuerySet[SyncBatch]:
    return SyncBatch.filter(tenant_id=reader.tenant_id)
