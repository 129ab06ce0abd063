"""A tenant's tier policy as its admin saves it, and the tier thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from core.errors import ErrorCode, InvalidInput, NotFound
from models.points.tables import PointDefinition
from models.tenancy.facts import facts_changed
from models.tiers.tables import TierBasis, TierPolicy

MAX_MONTHS = 120
MAX_GRACE_DAYS = 3650


@dataclass(frozen=True)
class PolicyFields:
    enabled: bool
    basis: TierBasis
    definition_id: UUID | None
    window_months: int
    review_months: int
    grace_days: int


async def tier_policy(tenant_id: UUID) -> TierPolicy:
    """The tenant's policy; a disabled default one when it never saved one (unsaved)."""
    policy = await TierPolicy.get_or_none(tenant_id=tenant_id)
    return policy or TierPolicy(tenant_id=tenant_id, enabled=False)


async def save_tier_policy(tenant_id: UUID, f: PolicyFields) -> TierPolicy:
    for name, value, top in (
        ("windowMonths", f.window_months, MAX_MONTHS),
        ("reviewMonths", f.review_months, MAX_MONTHS),
    ):
        if not 1 <= value <= top:
            raise InvalidInput(f"Use 1 to {top} months", field=name, code=ErrorCode.INVALID)
    if not 0 <= f.grace_days <= MAX_GRACE_DAYS:
        raise InvalidInput(
            f"Use 0 to {MAX_GRACE_DAYS} days", field="graceDays", code=ErrorCode.INVALID
        )
    if f.definition_id is not None and not await PointDefinition.exists(
        id=f.definition_id, tenant_id=tenant_id
    ):
        raise NotFound("Point definition not found", field="definitionId", code=ErrorCode.NOT_FOUND)
    values = {
        "enabled": f.enabled,
        "basis": f.basis,
        "definition_id": f.definition_id,
        "window_months": f.window_months,
        "review_months": f.review_months,
        "grace_days": f.grace_days,
    }
    policy, _ = await TierPolicy.update_or_create(values, tenant_id=tenant_id)
    facts_changed(tenant_id)
    return policy
