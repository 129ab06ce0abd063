"""What a caller may read of its tenant (models.tenancy.readers): admins, API keys, the
point mode."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.queryset import QuerySet

from models.tenancy.readers import Reader
from models.tenancy.tables import ApiKey, PointMode, Tenant, TenantAdmin


def admins_for(reader: Reader) -> QuerySet[TenantAdmin]:
    return TenantAdmin.filter(tenant_id=reader.tenant_id)


def api_keys_for(reader: Reader) -> QuerySet[ApiKey]:
    return ApiKey.filter(tenant_id=reader.tenant_id)


async def tenant_point_modes(reader: Reader, tenant_ids: Sequence[UUID]) -> list[PointMode | None]:
    """The point mode of each tenant asked: only the reader's own answers."""
    if not tenant_ids:
        return []
    rows = await Tenant.filter(id=reader.tenant_id, id__in=set(tenant_ids)).values_list(
        "id", "point_mode"
    )
    modes = {tenant_id: PointMode(mode) for tenant_id, mode in rows}
    return [modes.get(t) for t in tenant_ids]
