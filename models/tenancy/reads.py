"""What a caller may read of its tenant (models.tenancy.readers): admins, API keys, the
point mode."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from models.tenancy.readers import Reader
from models.tenancy.tables import ApiKey, TenantAdmin


def admins_for(reader: Reader) -> QuerySet[TenantAdmin]:
    return TenantAdmin.filter(tenant_id=reader.tenant_id)


def api_keys_for(reader: Reader) -> QuerySet[ApiKey]:
    return ApiKey.filter(tenant_id=reader.tenant_id)
