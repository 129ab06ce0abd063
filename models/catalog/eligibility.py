"""Whether a member may redeem a reward now, and if not, why (a code the widget shows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.errors import Code, Refused
from models.catalog.tables import MemberRewardUsage, Reward
from models.members.tables import Tier


class Ineligibility(Code):
    """Why a member may not redeem a reward: the code of the refusal, and its message."""

    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    TIER_REQUIRED = "TIER_REQUIRED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    COOLDOWN = "COOLDOWN"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_AVAILABLE = "NOT_AVAILABLE"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Ineligibility.INSUFFICIENT_POINTS: "Not enough points",
    Ineligibility.TIER_REQUIRED: "The member's tier is too low for this reward",
    Ineligibility.OUT_OF_STOCK: "The reward is out of stock",
    Ineligibility.COOLDOWN: "The member redeemed this reward too recently",
    Ineligibility.LIMIT_REACHED: "The member reached the limit for this reward",
    Ineligibility.NOT_AVAILABLE: "The reward is not available",
}


def refusal(reason: Ineligibility) -> Refused:
    """The refusal to redeem for `reason`, as the caller receives it."""
    return Refused(reason.message, code=reason)


def catalog_gate(
    reward: Reward,
    member_tier: Tier | None,
    min_tier: Tier | None,
    now: datetime,
    codes_left: int | None = None,
) -> Ineligibility | None:
    """The checks that need no counters: availability, tier, and a quick look at stock
    (and at the code pool's free codes, `codes_left`, when the reward has a pool)."""
    if not reward.enabled or reward.archived_at is not None:
        return Ineligibility.NOT_AVAILABLE
    if reward.available_from is not None and now < reward.available_from:
        return Ineligibility.NOT_AVAILABLE
    if reward.available_until is not None and now >= reward.available_until:
        return Ineligibility.NOT_AVAILABLE
    if min_tier is not None and (member_tier is None or member_tier.rank < min_tier.rank):
        return Ineligibility.TIER_REQUIRED
    if reward.stock is not None and reward.stock <= 0:
        return Ineligibility.OUT_OF_STOCK
    if codes_left is not None and codes_left <= 0:
        return Ineligibility.OUT_OF_STOCK
    return None


def usage_gate(
    reward: Reward, usage: MemberRewardUsage | None, quantity: int, now: datetime
) -> Ineligibility | None:
    if usage is None:
        return None
    if reward.per_member_limit is not None:
        if usage.redeemed_count + quantity > reward.per_member_limit:
            return Ineligibility.LIMIT_REACHED
    if reward.cooldown_seconds and usage.last_redeemed_at is not None:
        if now < usage.last_redeemed_at + timedelta(seconds=reward.cooldown_seconds):
            return Ineligibility.COOLDOWN
    return None


def available_at(
    reward: Reward,
    usage: MemberRewardUsage | None,
    reason: Ineligibility | None,
    now: datetime,
) -> datetime | None:
    """When a reward refused for `reason` becomes redeemable again by itself: the end of a
    cooldown, or the start of the availability window; None when waiting will not do."""
    if reason == Ineligibility.COOLDOWN and usage is not None and usage.last_redeemed_at:
        return usage.last_redeemed_at + timedelta(seconds=reward.cooldown_seconds or 0)
    if reason == Ineligibility.NOT_AVAILABLE and reward.enabled and reward.archived_at is None:
        if reward.available_from is not None and now < reward.available_from:
            return reward.available_from
    return None


def eligibility(
    reward: Reward,
    member_tier: Tier | None,
    min_tier: Tier | None,
    usage: MemberRewardUsage | None,
    spendable: int,
    now: datetime,
    quantity: int = 1,
    codes_left: int | None = None,
) -> Ineligibility | None:
    gate = catalog_gate(reward, member_tier, min_tier, now, codes_left)
    if gate is not None:
        return gate
    if reward.stock is not None and reward.stock < quantity:
        return Ineligibility.OUT_OF_STOCK
    gate = usage_gate(reward, usage, quantity, now)
    if gate is not None:
        return gate
    if spendable < reward.point_cost * quantity:
        return Ineligibility.INSUFFICIENT_POINTS
    return None
