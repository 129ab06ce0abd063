"""Why a member may not redeem: every code through real redeem calls, and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from core import clock
from core.errors import NotFound, Refused
from models.catalog.eligibility import eligibility
from models.catalog.rewards import archive_reward
from models.catalog.tables import MemberRewardUsage, Reward
from models.db.idempotency import IdempotencyKey
from models.members.tables import Member, Tier
from models.members.upserts import delete_tier, save_point_definition
from models.points.awards import AwardRequest, award_points
from models.points.grants import account_view
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from tests.factories import make_member, make_reward, make_tenant, make_tier

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _frozen() -> object:
    with clock.frozen_at(T0):
        yield


async def _snapshot(req: RedeemRequest) -> dict[str, Any]:
    account = await PointAccount.get_or_none(member_id=req.member_id)
    reward = await Reward.get(id=req.reward_id)
    usage = await MemberRewardUsage.get_or_none(member_id=req.member_id, reward_id=req.reward_id)
    return {
        "redemptions": await Redemption.all().count(),
        "events": await RedemptionEvent.all().count(),
        "entries": await LedgerEntry.all().count(),
        "keys": await IdempotencyKey.all().count(),
        "balance": account.balance if account else None,
        "stock": reward.stock,
        "usage": (usage.redeemed_count, usage.last_redeemed_at) if usage else None,
    }


async def _preview(req: RedeemRequest) -> str | None:
    """What the widget shows before the member presses "redeem"."""
    reward = await Reward.get(id=req.reward_id)
    member = await Member.get(id=req.member_id)
    member_tier = await Tier.get_or_none(id=member.tier_id) if member.tier_id else None
    min_tier = await Tier.get_or_none(id=reward.min_tier_id) if reward.min_tier_id else None
    usage = await MemberRewardUsage.get_or_none(member_id=member.id, reward_id=reward.id)
    account = await PointAccount.get_or_none(
        member_id=member.id, definition_id=reward.definition_id
    )
    spendable = (await account_view(account)).active if account else 0
    reason = eligibility(
        reward, member_tier, min_tier, usage, spendable, clock.now(), quantity=req.quantity
    )
    return reason.value if reason else None


async def _assert_refused(req: RedeemRequest, code: str) -> None:
    before = await _snapshot(req)
    assert await _preview(req) == code
    with pytest.raises(Refused) as exc:
        await redeem(req)
    assert exc.value.code == code
    assert await _snapshot(req) == before


async def _assert_redeems(req: RedeemRequest) -> Redemption:
    assert await _preview(req) is None
    return await redeem(req)


async def _setup(
    points: int = 1000, tier: Tier | None = None, **reward_fields: Any
) -> tuple[UUID, UUID, Reward]:
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=points, tier=tier)
    reward_fields.setdefault("point_cost", 100)
    reward = await make_reward(t.tenant.id, **reward_fields)
    return t.tenant.id, member.id, reward


async def test_a_disabled_reward_is_not_available(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(enabled=False)
    # when / then
    await _assert_refused(RedeemRequest(tenant_id, member_id, reward.id), "NOT_AVAILABLE")


async def test_an_archived_reward_is_not_available(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup()
    await archive_reward(tenant_id, reward.id)
    # when / then
    await _assert_refused(RedeemRequest(tenant_id, member_id, reward.id), "NOT_AVAILABLE")


async def test_a_reward_is_not_available_before_available_from(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(available_from=T0 + HOUR)
    req = RedeemRequest(tenant_id, member_id, reward.id)
    # when / then
    clock.advance(HOUR - SECOND)
    await _assert_refused(req, "NOT_AVAILABLE")
    clock.advance(SECOND)
    assert (await _assert_redeems(req)).points_spent == 100


async def test_a_reward_is_not_available_from_available_until_on(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(available_until=T0 + HOUR)
    req = RedeemRequest(tenant_id, member_id, reward.id)
    # when / then
    clock.advance(HOUR - SECOND)
    await _assert_redeems(req)
    clock.advance(SECOND)
    await _assert_refused(req, "NOT_AVAILABLE")


async def test_a_tier_gated_reward_needs_that_tier_or_better(db: str) -> None:
    # given
    t = await make_tenant()
    silver = await make_tier(t.tenant.id, "Silver", 1)
    gold = await make_tier(t.tenant.id, "Gold", 2)
    platinum = await make_tier(t.tenant.id, "Platinum", 3)
    reward = await make_reward(t.tenant.id, point_cost=100, min_tier_id=gold.id)
    members = {
        name: await make_member(t.tenant.id, points=100, tier=tier)
        for name, tier in [("none", None), ("silver", silver), ("gold", gold), ("plat", platinum)]
    }
    # when / then
    for name in ("none", "silver"):
        await _assert_refused(
            RedeemRequest(t.tenant.id, members[name].id, reward.id), "TIER_REQUIRED"
        )
    for name in ("gold", "plat"):
        await _assert_redeems(RedeemRequest(t.tenant.id, members[name].id, reward.id))


async def test_deleting_the_required_tier_ungates_the_reward(db: str) -> None:
    # given
    t = await make_tenant()
    gold = await make_tier(t.tenant.id, "Gold", 2)
    reward = await make_reward(t.tenant.id, point_cost=100, min_tier_id=gold.id)
    member = await make_member(t.tenant.id, points=100)
    req = RedeemRequest(t.tenant.id, member.id, reward.id)
    await _assert_refused(req, "TIER_REQUIRED")
    # when
    await delete_tier(t.tenant.id, gold.id)
    # then
    await _assert_redeems(req)


async def test_an_exhausted_reward_is_out_of_stock(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(stock=1)
    req = RedeemRequest(tenant_id, member_id, reward.id)
    await _assert_redeems(req)
    # when / then
    await _assert_refused(req, "OUT_OF_STOCK")


async def test_a_reward_with_zero_stock_is_out_of_stock(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(stock=0)
    # when / then
    await _assert_refused(RedeemRequest(tenant_id, member_id, reward.id), "OUT_OF_STOCK")


async def test_asking_for_more_than_the_stock_is_refused_after_nothing_was_spent(db: str) -> None:
    # given: the points check passes, the stock check comes last in the transaction
    tenant_id, member_id, reward = await _setup(stock=2, per_member_limit=5, cooldown_seconds=60)
    # when / then
    await _assert_refused(
        RedeemRequest(tenant_id, member_id, reward.id, quantity=3), "OUT_OF_STOCK"
    )
    await _assert_redeems(RedeemRequest(tenant_id, member_id, reward.id, quantity=2))


async def test_a_member_inside_the_cooldown_is_refused(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cooldown_seconds=3600)
    req = RedeemRequest(tenant_id, member_id, reward.id)
    await _assert_redeems(req)
    # when / then
    clock.advance(HOUR - SECOND)
    await _assert_refused(req, "COOLDOWN")
    clock.advance(SECOND)
    await _assert_redeems(req)


async def test_the_cooldown_is_per_member(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cooldown_seconds=3600)
    other = await make_member(tenant_id, points=100)
    await _assert_redeems(RedeemRequest(tenant_id, member_id, reward.id))
    # when / then
    await _assert_redeems(RedeemRequest(tenant_id, other.id, reward.id))


async def test_a_member_at_the_limit_is_refused(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(per_member_limit=3)
    await _assert_redeems(RedeemRequest(tenant_id, member_id, reward.id, quantity=2))
    # when / then
    await _assert_refused(
        RedeemRequest(tenant_id, member_id, reward.id, quantity=2), "LIMIT_REACHED"
    )
    await _assert_redeems(RedeemRequest(tenant_id, member_id, reward.id))
    await _assert_refused(RedeemRequest(tenant_id, member_id, reward.id), "LIMIT_REACHED")


async def test_a_member_with_too_few_points_is_refused(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(points=150)
    # when / then
    await _assert_refused(
        RedeemRequest(tenant_id, member_id, reward.id, quantity=2), "INSUFFICIENT_POINTS"
    )
    await _assert_redeems(RedeemRequest(tenant_id, member_id, reward.id))
    await _assert_refused(RedeemRequest(tenant_id, member_id, reward.id), "INSUFFICIENT_POINTS")


async def test_a_member_without_an_account_has_insufficient_points(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(points=0)
    # when / then
    await _assert_refused(RedeemRequest(tenant_id, member_id, reward.id), "INSUFFICIENT_POINTS")


async def test_points_of_another_currency_do_not_pay_for_a_reward(db: str) -> None:
    # given
    t = await make_tenant()
    tokens = await save_point_definition(t.tenant.id, None, "tokens")
    member = await make_member(t.tenant.id, points=1000)
    reward = await make_reward(t.tenant.id, point_cost=100, definition_id=tokens.id)
    req = RedeemRequest(t.tenant.id, member.id, reward.id)
    await _assert_refused(req, "INSUFFICIENT_POINTS")
    # when
    await award_points(AwardRequest(t.tenant.id, member.id, tokens.id, 100, LedgerSource.PURCHASE))
    # then
    redemption = await _assert_redeems(req)
    assert redemption.definition_id == tokens.id
    balances = {a.definition_id: a.balance for a in await PointAccount.filter(member_id=member.id)}
    assert balances == {t.definition.id: 1000, tokens.id: 0}


async def test_a_refused_redeem_does_not_burn_its_idempotency_key(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup(points=50)
    req = RedeemRequest(tenant_id, member_id, reward.id, idempotency_key="r-1")
    await _assert_refused(req, "INSUFFICIENT_POINTS")
    await award_points(AwardRequest(tenant_id, member_id, None, 50, LedgerSource.PURCHASE))
    # when
    first = await redeem(req)
    replay = await redeem(req)
    # then
    assert replay.id == first.id
    assert (await PointAccount.get(member_id=member_id)).balance == 0


async def test_a_foreign_reward_or_member_is_not_found(db: str) -> None:
    # given
    tenant_id, member_id, reward = await _setup()
    other = await make_tenant()
    other_member = await make_member(other.tenant.id, points=1000)
    req = RedeemRequest(tenant_id, member_id, reward.id)
    before = await _snapshot(req)
    # when / then
    with pytest.raises(NotFound) as exc:
        await redeem(RedeemRequest(other.tenant.id, other_member.id, reward.id))
    assert exc.value.field == "rewardId"
    with pytest.raises(NotFound) as exc:
        await redeem(RedeemRequest(tenant_id, other_member.id, reward.id))
    assert exc.value.field == "memberId"
    assert await _snapshot(req) == before
