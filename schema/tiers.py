"""Computed tiers: the tenant's tier policy, a member's tier history and overrides."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.tiers import tables as m
from schema.common import CatalogError, MemberError

TierBasis = strawberry.enum(
    m.TierBasis,
    name="TierBasis",
    description="What counts towards a tier: POINTS_EARNED (every earned posting, net of "
    "returns) or PURCHASE_POINTS (points of PURCHASE postings, net of returns)",
)
TierChangeReason = strawberry.enum(m.TierChangeReason, name="TierChangeReason")


@strawberry.type(description="How tiers are computed from activity (thresholds: Tier.minValue)")
class TierPolicy:
    enabled: bool
    basis: TierBasis  # type: ignore[valid-type]
    point_definition_id: strawberry.ID | None = strawberry.field(
        description="The currency whose activity counts; null = the default currency"
    )
    window_months: int = strawberry.field(description="Activity counted: this rolling window")
    review_months: int = strawberry.field(
        description="A tier reached or re-qualified for is kept this long before a downgrade"
    )
    grace_days: int = strawberry.field(
        description="After a failed review, days the member keeps its tier to qualify again"
    )

    @classmethod
    def from_model(cls, p: m.TierPolicy) -> TierPolicy:
        return cls(
            enabled=p.enabled,
            basis=m.TierBasis(p.basis),
            point_definition_id=strawberry.ID(str(p.definition_id)) if p.definition_id else None,
            window_months=p.window_months,
            review_months=p.review_months,
            grace_days=p.grace_days,
        )


@strawberry.input
class TierPolicyInput:
    enabled: bool
    basis: TierBasis = m.TierBasis.POINTS_EARNED  # type: ignore[valid-type]
    point_definition_id: strawberry.ID | None = None
    window_months: int = 12
    review_months: int = 12
    grace_days: int = 0


@strawberry.type
class TierPolicyPayload:
    tier_policy: TierPolicy | None = None
    errors: list[CatalogError] = strawberry.field(default_factory=list)


@strawberry.type(description="One change of a member's tier")
class TierChange:
    id: strawberry.ID
    from_tier_id: strawberry.ID | None
    from_tier_name: str | None
    to_tier_id: strawberry.ID | None
    to_tier_name: str | None
    reason: TierChangeReason  # type: ignore[valid-type]
    note: str = strawberry.field(description="The admin's reason, for a MANUAL change")
    activity: int | None = strawberry.field(description="The activity the change was computed on")
    actor: str
    at: datetime

    @classmethod
    def from_model(cls, c: m.TierChange) -> TierChange:
        return cls(
            id=strawberry.ID(str(c.id)),
            from_tier_id=strawberry.ID(str(c.from_tier_id)) if c.from_tier_id else None,
            from_tier_name=c.from_name,
            to_tier_id=strawberry.ID(str(c.to_tier_id)) if c.to_tier_id else None,
            to_tier_name=c.to_name,
            reason=m.TierChangeReason(c.reason),
            note=c.note,
            activity=c.activity,
            actor=c.actor,
            at=c.created_at,
        )


@strawberry.type(description="A member's tier as computed or overridden")
class TierStatus:
    review_at: datetime | None = strawberry.field(
        description="When the tier is re-evaluated next (a downgrade happens only then)"
    )
    in_grace: bool = strawberry.field(description="review_at ends a grace period")
    overridden: bool
    override_reason: str | None
    override_until: datetime | None = strawberry.field(
        description="When the override ends (null: until cleared)"
    )
    activity: int | None = strawberry.field(
        description="Activity in the policy's window now (null: no enabled policy)"
    )


@strawberry.input
class SetMemberTierInput:
    member_id: strawberry.ID
    tier_id: strawberry.ID | None = strawberry.field(
        default=None, description="null = no tier (ignored with clearOverride)"
    )
    reason: str = ""
    until: datetime | None = strawberry.field(
        default=None, description="The override ends then; null = until cleared"
    )
    clear_override: bool = strawberry.field(
        default=False,
        description="End the override now: the member gets the tier its activity qualifies for",
    )


@strawberry.type
class MemberTierPayload:
    tier_change: TierChange | None = None
    errors: list[MemberError] = strawberry.field(default_factory=list)
