"""What a caller may read of its tenant (models.tenancy.readers): admins, API keys, the
point mode."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from models.tenancy.facts import tenant_facts
from models.tenancy.readers import Reader
from models.tenancy.tables import ApiKey, PointMode, TenantAdmin


def admins_for(reader: Reader) -> QuerySet[TenantAdmin]:
    return TenantAdmin.filter(tenant_id=reader.tenant_id)


def api_keys_for(reader: Reader) -> QuerySet[ApiKey]:
    return ApiKey.filter(tenant_id=reader.tenant_id)


async def tenant_point_modes(reader: Reader, tenant_ids: Sequence[UUID]) -> list[PointMode | None]:
    """The point mode of each tenant asked: only the reader's own answers (from its cached
    facts, models.tenancy.facts)."""
    if reader.tenant_id not in tenant_ids:
        return [None] * len(tenant_ids)
    mode = (await tenant_facts(reader.tenant_id)).point_mode
    return [mode if t == reader.tenant_id else None for t in tenant_ids]
