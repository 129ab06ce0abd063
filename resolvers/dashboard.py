"""The admin dashboard: redemptions by status, webhook health, sync batches (admins only)."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from core import clock
from models.db.pagination import paginate
from models.pointmaster.reads import sync_batches_for
from models.pointmaster.tables import SyncStatus
from models.redemptions.tables import RedemptionStatus as StatusModel
from models.reports.dashboard import redemption_counts as count_redemptions
from models.reports.dashboard import webhook_health as endpoint_health
from resolvers.auth import ADMIN, require
from resolvers.errors import query_error
from schema.common import PageInfo
from schema.dashboard import RedemptionStatusCount, SyncBatchConnection, WebhookEndpointHealth
from schema.sync_batches import SyncBatch, SyncBatchStatus
from schema.webhooks import WebhookEndpoint

HEALTH_WINDOW = timedelta(hours=24)


def _start_of_today() -> datetime:
    return clock.now().replace(hour=0, minute=0, second=0, microsecond=0)


async def redemption_counts(
    info: strawberry.Info, since: datetime | None = None
) -> list[RedemptionStatusCount]:
    principal = require(info, ADMIN)
    counts = await count_redemptions(principal.tenant_id, since or _start_of_today())
    return [
        RedemptionStatusCount(status=StatusModel(status), count=count)
        for status, count in counts.items()
    ]


async def webhook_health(
    info: strawberry.Info, since: datetime | None = None
) -> list[WebhookEndpointHealth]:
    principal = require(info, ADMIN)
    rows = await endpoint_health(principal.tenant_id, since or clock.now() - HEALTH_WINDOW)
    return [
        WebhookEndpointHealth(
            endpoint=WebhookEndpoint.from_model(row.endpoint),
            delivered=row.delivered,
            retrying=row.retrying,
            pending=row.pending,
            dead=row.dead,
        )
        for row in rows
    ]


async def sync_batches(
    info: strawberry.Info,
    status: list[SyncBatchStatus] | None = None,  # type: ignore[valid-type]
    first: int | None = None,
    after: str | None = None,
) -> SyncBatchConnection:
    principal = require(info, ADMIN)
    with query_error():
        query = sync_batches_for(principal.reader)
        if status:
            query = query.filter(status__in=[SyncStatus(s) for s in status])
        page = await paginate(query, first, after)
    return SyncBatchConnection(
        nodes=[SyncBatch.from_model(b) for b in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )
