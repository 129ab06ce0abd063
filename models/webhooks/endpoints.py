"""Webhook endpoints: saved with an SSRF check, signing secrets shown once and rotatable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from core import clock
from core.errors import ErrorCode, InvalidInput, NotFound
from core.signing import check_secret, new_secret
from core.ssrf import UrlCode, checked_addresses
from models.tenancy.tables import Tenant
from models.webhooks.outbox import endpoints_changed
from models.webhooks.tables import MAX_URL, PayloadFormat, WebhookEndpoint, WebhookEvent

DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown to the admin once


def event_names(events: list[str]) -> list[str]:
    """The catalogue's names of `events` (`reward_redeemed` is `redemption.created`),
    sorted, each once; InvalidInput for an unknown one or none."""
    names = set()
    for name in events:
        try:
            names.add(WebhookEvent(name).value)
        except ValueError:
            names.clear()
            break
    if not names:
        allowed = ", ".join(e.value for e in WebhookEvent)
        raise InvalidInput(
            f"Choose events among: {allowed}", field="events", code=ErrorCode.INVALID
        )
    return sorted(names)


async def _checked_url(url: str, allow_private: bool) -> None:
    """Syntax (what httpx can send to), length, and the SSRF check of a URL to be saved."""
    if len(url) > MAX_URL:
        raise InvalidInput(
            f"Use at most {MAX_URL} characters", field="url", code=UrlCode.INVALID_URL
        )
    await checked_addresses(url, allow_private)


def _not_point_master(payload_format: PayloadFormat | None) -> None:
    if payload_format == PayloadFormat.POINT_MASTER:
        raise InvalidInput(
            "The point master's endpoint is set with setPointMasterSettings(adjustmentUrl)",
            field="payloadFormat",
        )


async def create_endpoint(
    tenant_id: UUID,
    url: str,
    events: list[str],
    payload_format: PayloadFormat,
    *,
    allow_private: bool,
    secret: str | None = None,
) -> EndpointWithSecret:
    """`secret`: the tenant's own (check_secret), else a new one."""
    _not_point_master(payload_format)
    await _checked_url(url, allow_private)
    secret = check_secret(secret) if secret is not None else new_secret()
    endpoint = await WebhookEndpoint.create(
        tenant_id=tenant_id,
        url=url,
        events=event_names(events),
        payload_format=payload_format,
        secret=secret,
    )
    endpoints_changed(tenant_id)
    return EndpointWithSecret(endpoint, secret)


async def get_endpoint(tenant_id: UUID, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, tenant_id=tenant_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found", field="id")
    return endpoint


async def update_endpoint(
    tenant_id: UUID,
    endpoint_id: UUID,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    payload_format: PayloadFormat | None = None,
    enabled: bool | None = None,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(tenant_id, endpoint_id)
    _not_point_master(payload_format)
    if endpoint.payload_format == PayloadFormat.POINT_MASTER and (url, events) != (None, None):
        _not_point_master(PayloadFormat.POINT_MASTER)  # only enabling/disabling it is allowed
    changes: dict[str, Any] = {}
    if url is not None:
        await _checked_url(url, allow_private)
        changes["url"] = url
    if events is not None:
        changes["events"] = event_names(events)
    if payload_format is not None:
        changes["payload_format"] = payload_format
    if enabled is not None:
        changes["enabled"] = enabled
        if enabled:  # re-enabling forgets why it was disabled
            changes.update(disabled_reason=None, failing_since=None)
    if changes:
        await WebhookEndpoint.filter(id=endpoint.id).update(**changes, updated_at=clock.now())
        await endpoint.refresh_from_db()
        endpoints_changed(tenant_id)
    return endpoint


async def delete_endpoint(tenant_id: UUID, endpoint_id: UUID) -> None:
    endpoint = await get_endpoint(tenant_id, endpoint_id)
    _not_point_master(PayloadFormat(endpoint.payload_format))  # its log is the adjustments'
    await endpoint.delete()
    endpoints_changed(tenant_id)


async def rotate_secret(
    tenant_id: UUID,
    endpoint_id: UUID,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    secret: str | None = None,
) -> EndpointWithSecret:
    """A new secret (the tenant's own, or made here); the old one keeps signing alongside it
    until the overlap ends."""
    if overlap < timedelta(0) or overlap > timedelta(days=7):
        raise InvalidInput("Overlap must be 0 to 7 days", field="overlapSeconds")
    endpoint = await get_endpoint(tenant_id, endpoint_id)
    secret = check_secret(secret) if secret is not None else new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = clock.now() + overlap
    endpoint.secret = secret
    await endpoint.save()
    return EndpointWithSecret(endpoint, secret)


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """Every secret that signs now: the current one, and the previous one during overlap."""
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > clock.now()
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


MAX_EXPIRING_SOON_DAYS = 365


async def expiring_soon_days(tenant_id: UUID) -> int:
    tenant = await Tenant.get(id=tenant_id)
    return tenant.points_expiring_soon_days


async def set_expiring_soon_days(tenant_id: UUID, days: int) -> int:
    """How many days before points expire their `points.expiring_soon` event goes out."""
    if not 1 <= days <= MAX_EXPIRING_SOON_DAYS:
        raise InvalidInput(
            f"Use 1 to {MAX_EXPIRING_SOON_DAYS} days", field="pointsExpiringSoonDays"
        )
    await Tenant.filter(id=tenant_id).update(points_expiring_soon_days=days)
    return days
