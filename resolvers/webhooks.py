"""Webhook endpoints, delivery log and replays (tenant admins)."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from core.errors import DomainError, InvalidInput
from core.signing import SigningCode
from models.db.pagination import paginate
from models.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    expiring_soon_days,
    get_endpoint,
    rotate_secret,
    set_expiring_soon_days,
    update_endpoint,
)
from models.webhooks.outbox import ping, replay, replay_dead_since
from models.webhooks.reads import deliveries_for, endpoints_for
from models.webhooks.tables import DeliveryStatus as StatusModel
from models.webhooks.tables import PayloadFormat as FormatModel
from models.webhooks.tables import WebhookEvent
from resolvers.auth import ADMIN, parse_id, require
from resolvers.errors import query_error
from schema.common import PageInfo, WebhookError, user_error
from schema.webhooks import (
    WebhookDeletePayload,
    WebhookDelivery,
    WebhookDeliveryConnection,
    WebhookDeliveryFilter,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointInput,
    WebhookEndpointPayload,
    WebhookSettings,
    WebhookSettingsPayload,
)


def _events(input: WebhookEndpointInput) -> list[str] | None:
    if input.events is None and input.event_types is None:
        return None
    return [*(input.events or []), *(WebhookEvent(e).value for e in input.event_types or [])]


async def create_webhook_endpoint(
    info: strawberry.Info, input: WebhookEndpointInput
) -> WebhookEndpointPayload:
    principal = require(info, ADMIN)
    try:
        created = await create_endpoint(
            principal.tenant_id,
            input.url or "",
            _events(input) or [WebhookEvent.REDEMPTION_CREATED.value],
            FormatModel(input.payload_format or FormatModel.GAMIFY),
            allow_private=info.context.settings.webhook_allow_private,
            secret=input.secret,
        )
    except DomainError as exc:
        return WebhookEndpointPayload(errors=[user_error(WebhookError, exc)])
    return WebhookEndpointPayload(
        endpoint=WebhookEndpoint.from_model(created.endpoint), secret=created.secret
    )


async def update_webhook_endpoint(
    info: strawberry.Info, id: strawberry.ID, input: WebhookEndpointInput
) -> WebhookEndpointPayload:
    principal = require(info, ADMIN)
    if input.secret is not None:
        refused = InvalidInput(
            "Change the secret with rotateWebhookSecret (the old one keeps signing meanwhile)",
            field="secret",
            code=SigningCode.INVALID_SECRET,
        )
        return WebhookEndpointPayload(errors=[user_error(WebhookError, refused)])
    try:
        endpoint = await update_endpoint(
            principal.tenant_id,
            parse_id(id, "id"),  # type: ignore[arg-type]
            url=input.url,
            events=_events(input),
            payload_format=FormatModel(input.payload_format) if input.payload_format else None,
            enabled=input.enabled,
            allow_private=info.context.settings.webhook_allow_private,
        )
    except DomainError as exc:
        return WebhookEndpointPayload(errors=[user_error(WebhookError, exc)])
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_model(endpoint))


async def delete_webhook_endpoint(info: strawberry.Info, id: strawberry.ID) -> WebhookDeletePayload:
    principal = require(info, ADMIN)
    try:
        await delete_endpoint(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return WebhookDeletePayload(errors=[user_error(WebhookError, exc)])
    return WebhookDeletePayload(deleted=True)


async def rotate_webhook_secret(
    info: strawberry.Info,
    id: strawberry.ID,
    overlap_seconds: int = 86400,
    secret: str | None = None,
) -> WebhookEndpointPayload:
    """A new secret (`secret`: the tenant's own); the old one stays valid (both signatures
    sent) for the overlap."""
    principal = require(info, ADMIN)
    try:
        rotated = await rotate_secret(
            principal.tenant_id,
            parse_id(id, "id"),  # type: ignore[arg-type]
            timedelta(seconds=overlap_seconds),
            secret,
        )
    except DomainError as exc:
        return WebhookEndpointPayload(errors=[user_error(WebhookError, exc)])
    return WebhookEndpointPayload(
        endpoint=WebhookEndpoint.from_model(rotated.endpoint), secret=rotated.secret
    )


async def ping_webhook_endpoint(info: strawberry.Info, id: strawberry.ID) -> WebhookDeliveryPayload:
    """Send a test event to this endpoint now."""
    principal = require(info, ADMIN)
    try:
        endpoint = await get_endpoint(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return WebhookDeliveryPayload(errors=[user_error(WebhookError, exc)])
    ids = await ping(endpoint)
    rows = await deliveries_for(principal.reader).filter(id__in=ids)
    return WebhookDeliveryPayload(deliveries=[WebhookDelivery.from_model(d) for d in rows])


async def replay_delivery(info: strawberry.Info, id: strawberry.ID) -> WebhookDeliveryPayload:
    principal = require(info, ADMIN)
    try:
        delivery = await replay(principal.tenant_id, parse_id(id, "id"))  # type: ignore[arg-type]
    except DomainError as exc:
        return WebhookDeliveryPayload(errors=[user_error(WebhookError, exc)])
    return WebhookDeliveryPayload(deliveries=[WebhookDelivery.from_model(delivery)])


async def replay_deliveries(
    info: strawberry.Info, endpoint_id: strawberry.ID, since: datetime
) -> WebhookDeliveryPayload:
    """Recover every DEAD delivery of an endpoint created since `since`."""
    principal = require(info, ADMIN)
    try:
        ids = await replay_dead_since(
            principal.tenant_id,
            parse_id(endpoint_id, "endpointId"),  # type: ignore[arg-type]
            since,
        )
    except DomainError as exc:
        return WebhookDeliveryPayload(errors=[user_error(WebhookError, exc)])
    rows = await deliveries_for(principal.reader).filter(id__in=ids).order_by("-created_at")
    return WebhookDeliveryPayload(deliveries=[WebhookDelivery.from_model(d) for d in rows])


async def webhook_endpoints(info: strawberry.Info) -> list[WebhookEndpoint]:
    principal = require(info, ADMIN)
    rows = await endpoints_for(principal.reader).order_by("created_at")
    return [WebhookEndpoint.from_model(e) for e in rows]


async def webhook_deliveries(
    info: strawberry.Info,
    filter: WebhookDeliveryFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> WebhookDeliveryConnection:
    principal = require(info, ADMIN)
    with query_error():
        query = deliveries_for(principal.reader)
        if filter is not None:
            if filter.endpoint_id is not None:
                query = query.filter(endpoint_id=parse_id(filter.endpoint_id, "endpointId"))
            if filter.redemption_id is not None:
                query = query.filter(redemption_id=parse_id(filter.redemption_id, "redemptionId"))
            if filter.status is not None:
                query = query.filter(status=StatusModel(filter.status))
        page = await paginate(query, first, after)
    return WebhookDeliveryConnection(
        nodes=[WebhookDelivery.from_model(d) for d in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


async def webhook_settings(info: strawberry.Info) -> WebhookSettings:
    principal = require(info, ADMIN)
    return WebhookSettings(points_expiring_soon_days=await expiring_soon_days(principal.tenant_id))


async def set_webhook_settings(
    info: strawberry.Info, points_expiring_soon_days: int
) -> WebhookSettingsPayload:
    principal = require(info, ADMIN)
    try:
        days = await set_expiring_soon_days(principal.tenant_id, points_expiring_soon_days)
    except DomainError as exc:
        return WebhookSettingsPayload(errors=[user_error(WebhookError, exc)])
    return WebhookSettingsPayload(settings=WebhookSettings(points_expiring_soon_days=days))
