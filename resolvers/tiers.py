"""Computed tiers: the tier policy (admins), tier overrides (admins and the backend)."""

from __future__ import annotations

import strawberry

from core.errors import DomainError
from models.tiers.overrides import clear_override, set_member_tier
from models.tiers.policy import PolicyFields, save_tier_policy, tier_policy
from models.tiers.tables import TierBasis as BasisModel
from resolvers.auth import ADMIN, BACKEND, parse_id, require
from schema.common import CatalogError, MemberError, user_error
from schema.tiers import (
    MemberTierPayload,
    SetMemberTierInput,
    TierChange,
    TierPolicy,
    TierPolicyInput,
    TierPolicyPayload,
)


async def tier_policy_(info: strawberry.Info) -> TierPolicy:
    principal = require(info, BACKEND)
    return TierPolicy.from_model(await tier_policy(principal.tenant_id))


async def save_tier_policy_(info: strawberry.Info, input: TierPolicyInput) -> TierPolicyPayload:
    principal = require(info, ADMIN)
    try:
        policy = await save_tier_policy(
            principal.tenant_id,
            PolicyFields(
                enabled=input.enabled,
                basis=BasisModel(input.basis),
                definition_id=parse_id(input.point_definition_id, "definitionId"),
                window_months=input.window_months,
                review_months=input.review_months,
                grace_days=input.grace_days,
            ),
        )
    except DomainError as exc:
        return TierPolicyPayload(errors=[user_error(CatalogError, exc)])
    return TierPolicyPayload(tier_policy=TierPolicy.from_model(policy))


async def set_member_tier_(info: strawberry.Info, input: SetMemberTierInput) -> MemberTierPayload:
    """Override a member's tier with a reason (or end the override)."""
    principal = require(info, BACKEND)
    try:
        member_id = parse_id(input.member_id, "memberId")
        assert member_id is not None
        if input.clear_override:
            _, change = await clear_override(principal.tenant_id, member_id, actor=principal.actor)
        else:
            change = await set_member_tier(
                principal.tenant_id,
                member_id,
                parse_id(input.tier_id, "tierId"),
                input.reason,
                until=input.until,
                actor=principal.actor,
            )
    except DomainError as exc:
        return MemberTierPayload(errors=[user_error(MemberError, exc)])
    return MemberTierPayload(tier_change=TierChange.from_model(change) if change else None)
