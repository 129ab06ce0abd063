"""A tenant's point-master settings: the points-log URL and its credentials, the
adjustment endpoint, and the AES-256 keys shared with the master.

Secrets (the log credentials, the keys) are stored because the engine must use them;
they are shown once when set and never read back in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from core.errors import InvalidInput, NotFound
from core.payload_crypto import check_key, new_key, new_key_id
from core.signing import new_secret
from core.ssrf import UrlCode, checked_addresses
from models.db.transactions import atomic
from models.pointmaster.codes import PointMasterCode
from models.pointmaster.tables import PointMasterKey, PointMasterSettings
from models.webhooks.outbox import endpoints_changed
from models.webhooks.tables import MAX_URL, PayloadFormat, SystemEvent, WebhookEndpoint

CONTACT = "{contactId}"
UNSET: Any = object()
TIMEOUT_MS = (100, 30_000)
CACHE_SECONDS = (0, 3600)
MAX_HEADER = 100


@dataclass(frozen=True)
class SavedSettings:
    settings: PointMasterSettings
    endpoint_secret: str | None  # the adjustment endpoint's signing secret, once, on creation


def log_url_for(template: str, contact_id: str) -> str:
    """The template with the contact id, escaped so it stays one path segment."""
    return template.replace(CONTACT, quote(contact_id, safe=""))


def masked(secret: str | None) -> str | None:
    """What an admin may see of a stored secret: that it is set, and its last 4 characters."""
    if not secret:
        return None
    return "****" + (secret[-4:] if len(secret) >= 12 else "")


async def get_settings(
    tenant_id: UUID, conn: BaseDBAsyncClient | None = None
) -> PointMasterSettings:
    """The tenant's row (created empty on first use)."""
    found = await PointMasterSettings.get_or_none(tenant_id=tenant_id, using_db=conn)
    if found is not None:
        return found
    await PointMasterSettings.bulk_create(
        [PointMasterSettings(id=uuid4(), tenant_id=tenant_id, updated_at=clock.now())],
        ignore_conflicts=True,
        using_db=conn,
    )
    return await PointMasterSettings.get(tenant_id=tenant_id, using_db=conn)


async def _checked_log_url(template: str, allow_private: bool) -> str:
    template = template.strip()
    if template.count(CONTACT) != 1:
        raise InvalidInput("The points-log URL must contain {contactId} once", field="pointsLogUrl")
    await _checked_url(log_url_for(template, "contact"), allow_private, "pointsLogUrl")
    return template


async def _checked_url(url: str, allow_private: bool, field: str) -> None:
    """The SSRF and syntax checks of a URL about to be saved, its errors naming `field`."""
    try:
        if len(url) > MAX_URL:
            raise InvalidInput(f"Use at most {MAX_URL} characters", code=UrlCode.INVALID_URL)
        await checked_addresses(url, allow_private)
    except InvalidInput as exc:
        raise type(exc)(exc.message, code=exc.code, field=field) from None


def _bounded(value: int | None, bounds: tuple[int, int], field: str, column: str) -> int:
    """`value` within `bounds`; None puts the column back to its default, as None does for
    the other settings."""
    if value is None:
        default: int = PointMasterSettings._meta.fields_map[column].default
        return default
    low, high = bounds
    if not low <= value <= high:
        raise InvalidInput(f"Use {low} to {high}", field=field)
    return value


async def save_settings(
    tenant_id: UUID,
    actor: str,
    *,
    allow_private: bool,
    points_log_url: Any = UNSET,
    auth_header: Any = UNSET,
    auth_value: Any = UNSET,
    timeout_ms: Any = UNSET,
    cache_seconds: Any = UNSET,
    adjustment_url: Any = UNSET,
) -> SavedSettings:
    """Change what is given (UNSET = keep; None or "" = clear). URLs pass the SSRF check."""
    changes: dict[str, Any] = {}
    if points_log_url is not UNSET:
        changes["points_log_url"] = (
            await _checked_log_url(points_log_url, allow_private) if points_log_url else None
        )
    if auth_header is not UNSET:
        header = (auth_header or "Authorization").strip()
        if len(header) > MAX_HEADER or not header.replace("-", "").isalnum():
            raise InvalidInput("Not an HTTP header name", field="pointsLogAuthHeader")
        changes["points_log_auth_header"] = header
    if auth_value is not UNSET:
        changes["points_log_auth_value"] = auth_value or None
    if timeout_ms is not UNSET:
        changes["points_log_timeout_ms"] = _bounded(
            timeout_ms, TIMEOUT_MS, "pointsLogTimeoutMs", "points_log_timeout_ms"
        )
    if cache_seconds is not UNSET:
        changes["points_log_cache_seconds"] = _bounded(
            cache_seconds, CACHE_SECONDS, "pointsLogCacheSeconds", "points_log_cache_seconds"
        )
    if adjustment_url is not UNSET and adjustment_url:
        await _checked_url(adjustment_url, allow_private, "adjustmentUrl")
    secret: str | None = None
    async with atomic() as conn:
        row = await get_settings(tenant_id, conn)
        if adjustment_url is not UNSET:
            changes["adjustment_endpoint_id"], secret = await _adjustment_endpoint(
                conn, row, adjustment_url or None
            )
        now = clock.now()
        await (
            PointMasterSettings.filter(id=row.id)
            .using_db(conn)
            .update(**changes, updated_by=actor, updated_at=now)
        )
        await row.refresh_from_db(using_db=conn)
    return SavedSettings(row, secret)


async def _adjustment_endpoint(
    conn: BaseDBAsyncClient, row: PointMasterSettings, url: str | None
) -> tuple[UUID | None, str | None]:
    """The POINT_MASTER endpoint for `url`: the tenant's existing one re-pointed, or a new
    one (its signing secret returned once). Clearing the URL disables it and keeps its log."""
    now = clock.now()
    endpoints_changed(row.tenant_id)
    if url is None:
        if row.adjustment_endpoint_id is not None:
            await (
                WebhookEndpoint.filter(id=row.adjustment_endpoint_id)
                .using_db(conn)
                .update(enabled=False, disabled_reason="Adjustment URL cleared", updated_at=now)
            )
        return None, None
    if row.adjustment_endpoint_id is not None:
        await (
            WebhookEndpoint.filter(id=row.adjustment_endpoint_id)
            .using_db(conn)
            .update(url=url, enabled=True, disabled_reason=None, failing_since=None, updated_at=now)
        )
        return row.adjustment_endpoint_id, None
    secret = new_secret()
    endpoint = await WebhookEndpoint.create(
        tenant_id=row.tenant_id,
        url=url,
        events=[SystemEvent.LOYALTY_ADD_POINTS.value],
        payload_format=PayloadFormat.POINT_MASTER,
        secret=secret,
        using_db=conn,
    )
    return endpoint.id, secret


def _check_key(key: str) -> str:
    try:
        check_key(key.strip())
    except ValueError as exc:
        raise InvalidInput(str(exc), field="key") from None
    return key.strip()


async def rotate_key(tenant_id: UUID, actor: str, key: str | None = None) -> PointMasterKey:
    """A new current key (given by the admin, or generated); the previous one retires.

    Adjustments already in the outbox keep the payload and key id they were encrypted with."""
    secret = _check_key(key) if key else new_key()
    async with atomic() as conn:
        now = clock.now()
        await (
            PointMasterKey.filter(tenant_id=tenant_id, retired_at__isnull=True)
            .using_db(conn)
            .update(retired_at=now)
        )
        return await PointMasterKey.create(
            id=uuid4(),
            tenant_id=tenant_id,
            key_id=new_key_id(),
            key=secret,
            created_by=actor,
            created_at=now,
            using_db=conn,
        )


async def current_key(tenant_id: UUID) -> PointMasterKey:
    key = await PointMasterKey.get_or_none(tenant_id=tenant_id, retired_at__isnull=True)
    if key is None:
        raise NotFound(
            "No key is shared with the point master yet: rotatePointMasterKey first",
            field="key",
            code=PointMasterCode.NO_KEY,
        )
    return key


async def keys(tenant_id: UUID) -> list[PointMasterKey]:
    return await PointMasterKey.filter(tenant_id=tenant_id).order_by("-created_at")
