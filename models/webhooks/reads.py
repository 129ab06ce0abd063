"""What a caller may read of webhook endpoints and their delivery log
(models.tenancy.readers): the tenant's. Only admins read them (the resolvers admit no
one else); a member sees a delivery's status only through its own adjustments."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from models.db.batches import by_ids, grouped
from models.tenancy.readers import Reader
from models.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def endpoints_for(reader: Reader) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.filter(tenant_id=reader.tenant_id)


def deliveries_for(reader: Reader) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.filter(tenant_id=reader.tenant_id)


def attempts_for(reader: Reader) -> QuerySet[WebhookAttempt]:
    return WebhookAttempt.filter(tenant_id=reader.tenant_id)


async def deliveries_by_id(reader: Reader, ids: Sequence[UUID]) -> list[WebhookDelivery | None]:
    return await by_ids(deliveries_for(reader), ids)


async def attempts_by_delivery(
    reader: Reader, delivery_ids: Sequence[UUID]
) -> list[list[WebhookAttempt]]:
    """Each delivery's attempts, oldest first."""
    return await grouped(attempts_for(reader).order_by("id"), "delivery_id", delivery_ids)
