"""A redemption of a reward the process has cached (the live catalog and the tenant's
facts, core.cache) reads nothing before it writes: on PostgreSQL a plain one is the one
statement alone, which reads the member itself. What the cache cannot know (the member,
the points, the stock as they are now) the statement checks; what an admin changes
reaches the cache before the next redemption. Each test runs on both backends: SQLite
goes the general way, and must answer alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID, uuid4

import pytest

from core.errors import DomainError
from models.catalog.code_pools import CodeEntry, add_codes
from models.catalog.rewards import RewardFields, archive_reward, update_reward
from models.catalog.tables import Reward
from models.members.tables import Member
from models.pointmaster.modes import set_point_mode
from models.points.tables import PointAccount
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from models.tenancy.tables import PointMode
from tests import dbsetup
from tests.api.test_batched_reads import statements
from tests.factories import make_member, make_reward, make_tenant, make_tier
from tests.models import test_races as races


async def _warm(tenant_id: UUID, reward: Reward) -> None:
    """A first redemption, by a member of its own: the process caches the catalog and
    the tenant's facts."""
    member = await make_member(tenant_id, points=reward.point_cost)
    await redeem(RedeemRequest(tenant_id, member.id, reward.id))


async def _code(tenant_id: UUID, member_id: UUID, reward_id: UUID) -> str:
    with pytest.raises(DomainError) as refused:
        await redeem(RedeemRequest(tenant_id, member_id, reward_id))
    return str(refused.value.code)


async def _written(member: Member) -> tuple[int, int]:
    account = await PointAccount.get(member_id=member.id)
    return account.balance, await Redemption.filter(member_id=member.id).count()


async def test_a_cached_reward_is_redeemed_with_nothing_read_first(
    db: str, following: None
) -> None:
    # given a reward the process has cached, and a member with 500 points
    shop = await make_tenant()
    reward = await make_reward(shop.tenant.id, point_cost=200, stock=5)
    await _warm(shop.tenant.id, reward)
    member = await make_member(shop.tenant.id, points=500, email="ann@example.com")
    # when the member redeems it, with the statements counted
    with statements() as seen:
        redemption = await redeem(
            RedeemRequest(shop.tenant.id, member.id, reward.id, actor="tester")
        )
    # then on PostgreSQL that was one statement, and neither the reward nor the member
    # was read before it
    if dbsetup.is_postgres():
        assert [s.split()[:3] for s in seen] == [["WITH", "redeemer", "AS"]], seen
    # and the record is whole: the points, the stock, and the events naming the member
    # as the general way names it (the statement read its fields)
    assert await _written(member) == (300, 1)
    assert (await Reward.get(id=reward.id)).stock == 3
    requested, withdrawn = await RedemptionEvent.filter(redemption_id=redemption.id).order_by("id")
    assert requested.data == {
        "quantity": 1,
        "pointCost": 200,
        "userId": str(member.id),
        "externalUserId": member.external_user_id,
        "email": "ann@example.com",
    }
    assert withdrawn.data is not None
    assert (withdrawn.data["balanceBefore"], withdrawn.data["balanceAfter"]) == (500, 300)


async def test_what_the_cache_cannot_know_is_checked_as_it_is_now(db: str, following: None) -> None:
    # given a cached reward with a stock, and a member with 150 points
    shop = await make_tenant()
    other = await make_tenant()
    reward = await make_reward(shop.tenant.id, point_cost=100, stock=10)
    await _warm(shop.tenant.id, reward)
    member = await make_member(shop.tenant.id, points=150)
    stranger = await make_member(other.tenant.id, points=1000)
    # then a member the tenant does not have is refused by name, as before the cache
    with pytest.raises(DomainError) as missing:
        await redeem(RedeemRequest(shop.tenant.id, uuid4(), reward.id))
    assert (missing.value.code, missing.value.field) == ("NOT_FOUND", "memberId")
    with pytest.raises(DomainError) as foreign:
        await redeem(RedeemRequest(shop.tenant.id, stranger.id, reward.id))
    assert (foreign.value.code, foreign.value.field) == ("NOT_FOUND", "memberId")
    assert await _written(stranger) == (1000, 0)
    # and the stock as it is now counts, not the cached one (a row changed behind the
    # engine's back, which the cache never hears of)
    await Reward.filter(id=reward.id).update(stock=0)
    assert await _code(shop.tenant.id, member.id, reward.id) == "OUT_OF_STOCK"
    await Reward.filter(id=reward.id).update(stock=10)
    # and so do the points: one redemption, then too few for a second
    await redeem(RedeemRequest(shop.tenant.id, member.id, reward.id))
    assert await _code(shop.tenant.id, member.id, reward.id) == "INSUFFICIENT_POINTS"
    assert await _written(member) == (50, 1)
    assert (await Reward.get(id=reward.id)).stock == 9


async def test_an_admins_change_reaches_the_next_redemption(db: str, following: None) -> None:
    # given cached rewards and a member with plenty of points
    shop = await make_tenant()
    tenant_id = shop.tenant.id
    pooled = await make_reward(tenant_id, point_cost=10)
    gated = await make_reward(tenant_id, point_cost=10)
    retired = await make_reward(tenant_id, point_cost=10)
    plain = await make_reward(tenant_id, point_cost=10)
    for reward in (pooled, gated, retired, plain):
        await _warm(tenant_id, reward)
    member = await make_member(tenant_id, points=1000)
    # when an admin gives one codes, gates one behind a tier and archives one
    await add_codes(tenant_id, pooled.id, [CodeEntry("CODE-1")])
    gold = await make_tier(tenant_id, "Gold", 2)
    await update_reward(tenant_id, gated.id, RewardFields(min_tier_id=gold.id))
    await archive_reward(tenant_id, retired.id)
    # then the next redemptions follow what they say: a drawn code, a tier, nothing
    drawn = await redeem(RedeemRequest(tenant_id, member.id, pooled.id))
    assert drawn.status == "FULFILLED"
    assert drawn.fulfillment_data is not None and "CODE-1" in str(drawn.fulfillment_data)
    assert await _code(tenant_id, member.id, gated.id) == "TIER_REQUIRED"
    assert await _code(tenant_id, member.id, retired.id) == "NOT_AVAILABLE"
    # and when the tenant's points follow a point master, a redemption goes to the master
    # (this tenant has none set up: refused, nothing debited)
    await set_point_mode(tenant_id, PointMode.FOLLOWER_TRANSACTIONS, actor="test")
    assert await _code(tenant_id, member.id, plain.id) == "NO_ADJUSTMENT_URL"
    assert await _written(member) == (990, 1)


@pytest.mark.parametrize(
    "scenario",
    [
        races.test_500_members_race_for_100_in_stock,
        races.test_balance_for_three_redemptions_allows_exactly_three,
        races.test_same_idempotency_key_redeems_once,
        races.test_same_key_racing_with_two_different_requests_has_one_effect,
    ],
    ids=lambda scenario: scenario.__name__.removeprefix("test_"),
)
async def test_the_redeem_races_hold_with_the_catalog_cached(
    db: str, following: None, scenario: Callable[[str], Awaitable[None]]
) -> None:
    # The races of tests/models/test_races.py, with the process serving its caches: on
    # PostgreSQL the redemptions go the one-statement way with nothing read first.
    await scenario(db)
