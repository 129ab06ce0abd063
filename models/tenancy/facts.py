"""What a tenant's reads need on every request and its admins rarely change: its point
mode, tiers, point currencies, which rewards hand out pooled codes and the enabled tier
policy, cached per tenant on each API process (core.cache).

Whoever changes one of them calls `facts_changed` (after commit every process drops the
tenant's entry). The cached rows are shared by concurrent requests: read them, never
change or save them.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from core.cache import TenantCache, invalidate
from models.catalog.tables import CodePool
from models.members.tables import Tier
from models.points.tables import PointDefinition
from models.tenancy.tables import PointMode, Tenant
from models.tiers.tables import TierPolicy


@dataclass(frozen=True)
class TenantFacts:
    point_mode: PointMode
    tiers: dict[UUID, Tier]
    definitions: dict[UUID, PointDefinition]
    code_pools: dict[UUID, UUID]  # reward id -> its code pool's id (models.catalog.code_pools)
    tier_policy: TierPolicy | None = None  # only an enabled one: tiers computed from activity

    def definition_mode(self, definition: PointDefinition) -> PointMode:
        """The mode that governs a currency: its override, else the tenant's."""
        return PointMode(definition.point_mode or self.point_mode)


FACTS: TenantCache[TenantFacts] = TenantCache("tenant-facts")


async def tenant_facts(tenant_id: UUID) -> TenantFacts:
    return await FACTS.get(tenant_id, lambda: _load(tenant_id))


async def _load(tenant_id: UUID) -> TenantFacts:
    mode = await Tenant.filter(id=tenant_id).first().values_list("point_mode", flat=True)
    tiers = await Tier.filter(tenant_id=tenant_id)
    definitions = await PointDefinition.filter(tenant_id=tenant_id)
    pools = await CodePool.filter(tenant_id=tenant_id).values_list("reward_id", "id")
    policy = await TierPolicy.filter(tenant_id=tenant_id, enabled=True).first()
    return TenantFacts(
        PointMode(str(mode)) if mode else PointMode.MASTER,
        {t.id: t for t in tiers},
        {d.id: d for d in definitions},
        {UUID(str(reward_id)): UUID(str(pool_id)) for reward_id, pool_id in pools},
        policy,
    )


def facts_changed(tenant_id: UUID) -> None:
    """After commit, every API process reads the tenant's facts anew."""
    invalidate(FACTS, tenant_id)
