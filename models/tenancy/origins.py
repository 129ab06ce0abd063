"""Which browser origins may call the API: a tenant's own list (its shop's domains).

The deployment-wide list (`GAMIFY_ALLOWED_ORIGINS`) and the engine's own origin are the
engine's business; this module holds what a tenant's admin manages and the two questions
the HTTP layer asks of it.
"""

from __future__ import annotations

from uuid import UUID

from core.cache import TenantCache, invalidate
from core.errors import InvalidInput
from core.origins import parse_origin
from models.db.transactions import atomic
from models.tenancy.codes import AccountCode
from models.tenancy.tables import TenantOrigin

MAX_ORIGINS = 50
MAX_ORIGIN_LENGTH = 300  # the column's length
# Asked on every browser request with a credential: cached per tenant (core.cache).
ORIGINS: TenantCache[frozenset[str]] = TenantCache("tenant-origins")


async def tenant_origins(tenant_id: UUID) -> list[str]:
    rows = await TenantOrigin.filter(tenant_id=tenant_id).order_by("origin")
    return [row.origin for row in rows]


async def set_tenant_origins(tenant_id: UUID, values: list[str]) -> list[str]:
    """Replace the tenant's list. Every entry must be an origin; duplicates collapse."""
    if len(values) > MAX_ORIGINS:
        raise InvalidInput(
            f"At most {MAX_ORIGINS} origins", field="origins", code=AccountCode.TOO_MANY
        )
    origins: list[str] = []
    for index, value in enumerate(values):
        origin = parse_origin(value)
        if origin is None or len(origin) > MAX_ORIGIN_LENGTH:
            raise InvalidInput(
                f"'{value[:100]}' is not an origin: use scheme://host[:port], "
                "e.g. https://shop.example",
                field=f"origins.{index}",
                code=AccountCode.INVALID_ORIGIN,
            )
        if origin not in origins:
            origins.append(origin)
    async with atomic():
        await TenantOrigin.filter(tenant_id=tenant_id).delete()
        await TenantOrigin.bulk_create(
            [TenantOrigin(tenant_id=tenant_id, origin=o) for o in origins]
        )
    invalidate(ORIGINS, tenant_id)
    return sorted(origins)


async def allowed_by_any_tenant(origin: str) -> bool:
    """Whether some tenant lists `origin`: enough to answer a preflight, which carries no
    credential (the request itself is then checked against the caller's tenant)."""
    # Longer than any stored origin (and Tortoise refuses to filter on it): listed nowhere.
    return len(origin) <= MAX_ORIGIN_LENGTH and await TenantOrigin.exists(origin=origin)


async def allowed_by_tenant(tenant_id: UUID, origin: str) -> bool:
    if len(origin) > MAX_ORIGIN_LENGTH:
        return False
    return origin in await ORIGINS.get(tenant_id, lambda: _origins(tenant_id))


async def _origins(tenant_id: UUID) -> frozenset[str]:
    return frozenset(await tenant_origins(tenant_id))
