"""The browser origins a tenant allows its member tokens on (the shop's domains)."""

from __future__ import annotations

import strawberry

from core.errors import DomainError
from models.tenancy.origins import set_tenant_origins, tenant_origins
from resolvers.auth import ADMIN, require
from schema.common import AccountError, user_error
from schema.tenants import AllowedOriginsPayload


async def allowed_origins(info: strawberry.Info) -> list[str]:
    principal = require(info, ADMIN)
    return await tenant_origins(principal.tenant_id)


async def set_allowed_origins(info: strawberry.Info, origins: list[str]) -> AllowedOriginsPayload:
    principal = require(info, ADMIN)
    try:
        saved = await set_tenant_origins(principal.tenant_id, origins)
    except DomainError as exc:
        return AllowedOriginsPayload(
            origins=await tenant_origins(principal.tenant_id),
            errors=[user_error(AccountError, exc)],
        )
    return AllowedOriginsPayload(origins=saved)
