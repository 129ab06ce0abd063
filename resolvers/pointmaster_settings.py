"""The tenant's point-master settings and shared keys (tenant admins)."""

from __future__ import annotations

from typing import Any

import strawberry

from core.errors import DomainError
from models.pointmaster.settings import UNSET, get_settings, keys, rotate_key, save_settings
from models.tenancy.readers import Reader
from models.webhooks.reads import endpoints_for
from resolvers.auth import ADMIN, require
from schema.pointmaster import (
    PointMasterError,
    PointMasterKey,
    PointMasterKeyPayload,
    PointMasterSettings,
    PointMasterSettingsInput,
    PointMasterSettingsPayload,
)


async def _settings_view(reader: Reader) -> PointMasterSettings:
    row = await get_settings(reader.tenant_id)
    endpoint = (
        await endpoints_for(reader).get_or_none(id=row.adjustment_endpoint_id)
        if row.adjustment_endpoint_id
        else None
    )
    return PointMasterSettings.from_model(row, endpoint, await keys(reader.tenant_id))


def _given(value: Any) -> Any:
    return UNSET if value is strawberry.UNSET else value


async def point_master_settings(info: strawberry.Info) -> PointMasterSettings:
    principal = require(info, ADMIN)
    return await _settings_view(principal.reader)


async def set_point_master_settings(
    info: strawberry.Info, input: PointMasterSettingsInput
) -> PointMasterSettingsPayload:
    """The points-log URL ({contactId}) and credentials, and the adjustment URL. URLs are
    checked like webhook URLs (no private addresses unless the deployment allows them)."""
    principal = require(info, ADMIN)
    try:
        saved = await save_settings(
            principal.tenant_id,
            principal.actor,
            allow_private=info.context.settings.webhook_allow_private,
            points_log_url=_given(input.points_log_url),
            auth_header=_given(input.points_log_auth_header),
            auth_value=_given(input.points_log_auth_value),
            timeout_ms=_given(input.points_log_timeout_ms),
            cache_seconds=_given(input.points_log_cache_seconds),
            adjustment_url=_given(input.adjustment_url),
        )
    except DomainError as exc:
        return PointMasterSettingsPayload(errors=[PointMasterError.from_error(exc)])
    return PointMasterSettingsPayload(
        settings=await _settings_view(principal.reader),
        adjustment_endpoint_secret=saved.endpoint_secret,
    )


async def rotate_point_master_key(
    info: strawberry.Info, key: str | None = None
) -> PointMasterKeyPayload:
    """A new current key for adjustment payloads (the given base64 key, or a generated one,
    shown once). What is already in the outbox keeps its key id."""
    principal = require(info, ADMIN)
    try:
        created = await rotate_key(principal.tenant_id, principal.actor, key)
    except DomainError as exc:
        return PointMasterKeyPayload(errors=[PointMasterError.from_error(exc)])
    return PointMasterKeyPayload(key=PointMasterKey.from_model(created), secret=created.key)
