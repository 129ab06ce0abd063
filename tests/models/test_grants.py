"""Pending points (future validFrom) and expiring points (validTo), on a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from core import clock
from core.errors import Refused
from models.catalog.tables import Reward
from models.points.awards import AwardRequest, PointsPosted, award_points
from models.points.grants import account_view, settle_due
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.redeem import RedeemRequest, redeem
from tests.factories import make_member, make_reward, make_tenant

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def frozen() -> object:
    with clock.frozen_at(T0):
        yield


async def _setup(cost: int = 100) -> tuple[UUID, UUID, Reward]:
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    reward = await make_reward(t.tenant.id, point_cost=cost)
    return t.tenant.id, member.id, reward


async def _award(
    tenant_id: UUID,
    member_id: UUID,
    amount: int,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    description: str = "",
) -> PointsPosted:
    return await award_points(
        AwardRequest(
            tenant_id=tenant_id,
            member_id=member_id,
            definition_id=None,
            amount=amount,
            source=LedgerSource.PURCHASE,
            description=description,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    )


async def _account(member_id: UUID) -> PointAccount:
    return await PointAccount.get(member_id=member_id)


async def _entries(member_id: UUID) -> list[tuple[int, str]]:
    """The account's ledger in posting order (entries of one instant chained by balance)."""
    account = await _account(member_id)
    left = list(await LedgerEntry.filter(account_id=account.id))
    ordered: list[LedgerEntry] = []
    balance = 0
    while left:
        first = min(e.created_at for e in left)
        entry = next(e for e in left if e.created_at == first and e.balance_before == balance)
        left.remove(entry)
        ordered.append(entry)
        balance = entry.balance_after
    return [(e.amount, e.source) for e in ordered]


async def test_points_with_a_future_valid_from_are_pending(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=100)
    # when
    posted = await _award(tenant_id, member_id, 300, valid_from=T0 + DAY)
    # then
    assert posted.entry is None
    account = await _account(member_id)
    assert (account.balance, account.pending) == (0, 300)
    view = await account_view(account)
    assert (view.active, view.pending) == (0, 300)
    assert await _entries(member_id) == []
    with pytest.raises(Refused) as exc:
        await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    assert exc.value.code == "INSUFFICIENT_POINTS"


async def test_pending_points_are_not_spendable_one_second_before_valid_from(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=100)
    await _award(tenant_id, member_id, 300, valid_from=T0 + DAY)
    clock.advance(DAY - timedelta(seconds=1))
    # when
    settled = (await settle_due()).grants
    # then
    assert settled == 0
    with pytest.raises(Refused):
        await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    view = await account_view(await _account(member_id))
    assert (view.active, view.pending) == (0, 300)


async def test_the_cron_activates_pending_points_at_valid_from(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 300, valid_from=T0 + DAY, description="spring bonus")
    clock.advance(DAY)
    # the member already sees them before the cron runs
    view = await account_view(await _account(member_id))
    assert (view.active, view.pending) == (300, 0)
    assert await _entries(member_id) == []
    # when
    settled = (await settle_due()).grants
    # then
    assert settled == 1
    account = await _account(member_id)
    assert (account.balance, account.pending) == (300, 0)
    entry = await LedgerEntry.get(account_id=account.id)
    assert (entry.amount, entry.source, entry.description) == (300, "PURCHASE", "spring bonus")
    assert entry.valid_from == T0 + DAY
    assert entry.created_at == T0 + DAY
    # running the cron again changes nothing
    assert (await settle_due()).grants == 0
    assert len(await _entries(member_id)) == 1


async def test_a_redeem_after_valid_from_activates_without_the_cron(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=100)
    await _award(tenant_id, member_id, 300, valid_from=T0 + DAY)
    clock.advance(DAY)
    # when
    redemption = await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    # then
    assert redemption.points_spent == 100
    account = await _account(member_id)
    assert (account.balance, account.pending) == (200, 0)
    assert await _entries(member_id) == [(300, "PURCHASE"), (-100, "REDEMPTION")]
    assert (await settle_due()).grants == 0


async def test_an_award_after_valid_from_activates_the_earlier_pending_points(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 300, valid_from=T0 + DAY)
    clock.advance(2 * DAY)
    # when
    await _award(tenant_id, member_id, 50)
    # then
    account = await _account(member_id)
    assert (account.balance, account.pending) == (350, 0)
    assert sorted(await _entries(member_id)) == [(50, "PURCHASE"), (300, "PURCHASE")]


async def test_points_expire_at_valid_to(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 300, valid_to=T0 + 10 * DAY, description="promo")
    assert (await _account(member_id)).balance == 300
    clock.advance(10 * DAY)
    # the member stops seeing them at valid_to, before the cron runs
    view = await account_view(await _account(member_id))
    assert (view.active, view.expiring_soon) == (0, 0)
    # when
    settled = (await settle_due()).grants
    # then
    assert settled == 1
    account = await _account(member_id)
    assert account.balance == 0
    expiry = await LedgerEntry.get(account_id=account.id, source=LedgerSource.EXPIRY)
    assert (expiry.amount, expiry.balance_before, expiry.balance_after) == (-300, 300, 0)
    assert expiry.created_at == T0 + 10 * DAY
    assert (await settle_due()).grants == 0


async def test_points_are_still_active_one_second_before_valid_to(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=300)
    await _award(tenant_id, member_id, 300, valid_to=T0 + 10 * DAY)
    clock.advance(10 * DAY - timedelta(seconds=1))
    # when
    await settle_due()
    redemption = await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    # then
    assert redemption.points_spent == 300
    assert (await _account(member_id)).balance == 0


async def test_a_redeem_right_after_expiry_cannot_spend_expired_points(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=100)
    await _award(tenant_id, member_id, 300, valid_to=T0 + 10 * DAY)
    clock.advance(10 * DAY)
    # when
    with pytest.raises(Refused) as exc:
        await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    # then
    assert exc.value.code == "INSUFFICIENT_POINTS"
    assert await _entries(member_id) == [(300, "PURCHASE")]
    await settle_due()
    assert (await _account(member_id)).balance == 0


async def test_a_deduction_right_after_expiry_cannot_take_expired_points(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 100)
    await _award(tenant_id, member_id, 300, valid_to=T0 + 10 * DAY)
    clock.advance(10 * DAY)
    # when
    with pytest.raises(Refused) as exc:
        await award_points(AwardRequest(tenant_id, member_id, None, -150, LedgerSource.ADJUSTMENT))
    # then
    assert exc.value.code == "INSUFFICIENT_POINTS"
    await award_points(AwardRequest(tenant_id, member_id, None, -100, LedgerSource.ADJUSTMENT))
    assert (await _account(member_id)).balance == 0
    assert await _entries(member_id) == [
        (100, "PURCHASE"),
        (300, "PURCHASE"),
        (-300, "EXPIRY"),
        (-100, "ADJUSTMENT"),
    ]


async def test_spending_part_of_expiring_points_expires_only_the_rest(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=120)
    await _award(tenant_id, member_id, 300, valid_to=T0 + 10 * DAY)
    await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    clock.advance(10 * DAY)
    view = await account_view(await _account(member_id))
    assert view.active == 0
    # when
    await settle_due()
    # then
    account = await _account(member_id)
    assert account.balance == 0
    assert await _entries(member_id) == [(300, "PURCHASE"), (-120, "REDEMPTION"), (-180, "EXPIRY")]


async def test_spending_consumes_expiring_points_before_permanent_ones(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=50)
    await _award(tenant_id, member_id, 100)
    await _award(tenant_id, member_id, 50, valid_to=T0 + 10 * DAY)
    # when
    await redeem(RedeemRequest(tenant_id, member_id, reward.id))
    # then: the 50 spent were the expiring ones, so nothing is left to expire
    view = await account_view(await _account(member_id))
    assert (view.active, view.expiring_soon) == (100, 0)
    clock.advance(10 * DAY)
    await settle_due()
    assert (await _account(member_id)).balance == 100


async def test_the_soonest_expiring_points_are_spent_first(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, reward = await _setup(cost=100)
    await _award(tenant_id, member_id, 100, valid_to=T0 + 20 * DAY)
    await _award(tenant_id, member_id, 100, valid_to=T0 + 5 * DAY)
    await _award(tenant_id, member_id, 100, valid_to=T0 + 40 * DAY)
    # when: spend 200 of 300, all expiring
    await redeem(RedeemRequest(tenant_id, member_id, reward.id, quantity=2))
    # then: the lots expiring at +5 and +20 days were consumed, the +40 one is whole
    clock.advance(21 * DAY)
    await settle_due()
    assert (await _account(member_id)).balance == 100
    assert LedgerSource.EXPIRY not in {source for _, source in await _entries(member_id)}
    clock.advance(19 * DAY)
    await settle_due()
    assert (await _account(member_id)).balance == 0


async def test_expiring_soon_shows_points_expiring_within_30_days(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 1000)
    await _award(tenant_id, member_id, 30, valid_to=T0 + 20 * DAY)
    await _award(tenant_id, member_id, 40, valid_to=T0 + 45 * DAY)
    # when
    now_view = await account_view(await _account(member_id))
    clock.advance(16 * DAY)
    later_view = await account_view(await _account(member_id))
    # then
    assert (now_view.active, now_view.expiring_soon) == (1070, 30)
    assert now_view.next_expiry_at == T0 + 20 * DAY
    assert (later_view.active, later_view.expiring_soon) == (1070, 70)


async def test_nothing_is_expiring_soon_when_expiry_is_far_away(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 40, valid_to=T0 + 90 * DAY)
    # when
    view = await account_view(await _account(member_id))
    # then
    assert (view.active, view.pending, view.expiring_soon) == (40, 0, 0)


async def test_pending_points_with_a_window_activate_then_expire(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 80, valid_from=T0 + DAY, valid_to=T0 + 5 * DAY)
    # when: the cron did not run while they were active
    clock.advance(6 * DAY)
    view = await account_view(await _account(member_id))
    await settle_due()
    # then
    assert (view.active, view.pending) == (0, 0)
    account = await _account(member_id)
    assert (account.balance, account.pending) == (0, 0)
    assert await _entries(member_id) == [(80, "PURCHASE"), (-80, "EXPIRY")]


async def test_activated_points_with_a_window_expire_later(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 80, valid_from=T0 + DAY, valid_to=T0 + 5 * DAY)
    clock.advance(DAY)
    await settle_due()
    view = await account_view(await _account(member_id))
    assert (view.active, view.pending, view.expiring_soon) == (80, 0, 80)
    # when
    clock.advance(4 * DAY)
    await settle_due()
    # then
    assert (await _account(member_id)).balance == 0
    assert await _entries(member_id) == [(80, "PURCHASE"), (-80, "EXPIRY")]


async def test_due_pending_points_with_a_valid_to_show_as_expiring_soon_before_the_cron(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id, _ = await _setup()
    await _award(tenant_id, member_id, 80, valid_from=T0 + DAY, valid_to=T0 + 5 * DAY)
    clock.advance(DAY)
    # when
    before_cron = await account_view(await _account(member_id))
    await settle_due()
    after_cron = await account_view(await _account(member_id))
    # then: the member sees the same thing whether or not the cron ran
    assert (before_cron.active, before_cron.pending, before_cron.expiring_soon) == (80, 0, 80)
    assert before_cron.next_expiry_at == T0 + 5 * DAY
    assert (after_cron.active, after_cron.pending, after_cron.expiring_soon) == (80, 0, 80)
    assert after_cron.next_expiry_at == T0 + 5 * DAY
