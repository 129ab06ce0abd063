"""What the admin console's dashboard shows: counts by status, webhook health, sync batches."""

from __future__ import annotations

import strawberry

from schema.common import PageInfo
from schema.redemptions import RedemptionStatus
from schema.sync_batches import SyncBatch
from schema.webhooks import WebhookEndpoint


@strawberry.type
class RedemptionStatusCount:
    status: RedemptionStatus  # type: ignore[valid-type]
    count: int


@strawberry.type(description="An endpoint's deliveries created in the window, by outcome")
class WebhookEndpointHealth:
    endpoint: WebhookEndpoint
    delivered: int
    retrying: int = strawberry.field(description="Failed at least once; another attempt is due")
    pending: int = strawberry.field(description="Not attempted yet")
    dead: int


@strawberry.type
class SyncBatchConnection:
    nodes: list[SyncBatch]
    page_info: PageInfo
