"""Invariants 1, 3 and 4 of DESIGN.md under real concurrency.

Every test fires its calls at once with asyncio.gather. On PostgreSQL each call holds its
own pooled connection (up to 30), so the transactions truly interleave; on SQLite one
process serialises them on its single connection, and the guards must still hold.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from core import clock
from core.errors import Conflict, Refused
from models.catalog.tables import MemberRewardUsage, Reward
from models.members.tables import Member
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.lifecycle import Transition, Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import (
    Redemption,
    RedemptionEvent,
    RedemptionEventKind,
    RedemptionStatus,
)
from tests.factories import default_definition, make_member, make_reward, make_tenant

T = TypeVar("T")

# A hang (lost wake-up, pool exhaustion, deadlock) must fail the test, not block CI.
RACE_TIMEOUT = 45.0


async def race(calls: Iterable[Awaitable[T]]) -> list[Any]:
    """Run all calls at once; each result is the returned value or the raised exception."""
    async with asyncio.timeout(RACE_TIMEOUT):
        return await asyncio.gather(*calls, return_exceptions=True)


def outcomes(results: list[Any]) -> Counter[str]:
    """How the calls ended: ok, the code of a domain error, or an unexpected exception."""
    counted: Counter[str] = Counter()
    for result in results:
        if isinstance(result, Refused | Conflict):
            counted[result.code] += 1
        elif isinstance(result, BaseException):
            counted[f"{type(result).__name__}: {result}"] += 1
        else:
            counted["ok"] += 1
    return counted


async def seed_members(tenant_id: UUID, count: int, points: int) -> list[UUID]:
    """`count` members holding `points` each, written in three bulk inserts.

    Each account gets the ledger entry that explains its balance, so invariant 2
    (balance == sum of the ledger) holds from the start.
    """
    definition = await default_definition(tenant_id)
    now = clock.now()
    members = [
        Member(id=uuid4(), tenant_id=tenant_id, external_user_id=f"racer-{i}-{uuid4().hex[:8]}")
        for i in range(count)
    ]
    accounts = [
        PointAccount(
            id=uuid4(),
            tenant_id=tenant_id,
            member_id=m.id,
            definition_id=definition.id,
            balance=points,
        )
        for m in members
    ]
    entries = [
        LedgerEntry(
            id=uuid4(),
            tenant_id=tenant_id,
            account_id=a.id,
            amount=points,
            balance_before=0,
            balance_after=points,
            source=LedgerSource.PURCHASE,
            description="seed points",
            created_at=now,
        )
        for a in accounts
    ]
    await Member.bulk_create(members, batch_size=250)
    await PointAccount.bulk_create(accounts, batch_size=250)
    await LedgerEntry.bulk_create(entries, batch_size=250)
    return [m.id for m in members]


async def balance_of(member_id: UUID) -> int:
    return (await PointAccount.get(member_id=member_id)).balance


async def ledger_of(member_id: UUID, source: LedgerSource) -> list[LedgerEntry]:
    account = await PointAccount.get(member_id=member_id)
    return await LedgerEntry.filter(account_id=account.id, source=source).order_by("created_at")


async def test_500_members_race_for_100_in_stock(db: str) -> None:
    # given
    t = await make_tenant()
    reward = await make_reward(t.tenant.id, point_cost=100, stock=100)
    member_ids = await seed_members(t.tenant.id, 500, points=250)
    # when
    results = await race(redeem(RedeemRequest(t.tenant.id, m, reward.id)) for m in member_ids)
    # then
    assert outcomes(results) == {"ok": 100, "OUT_OF_STOCK": 400}
    await reward.refresh_from_db()
    assert reward.stock == 0
    assert await Redemption.filter(reward_id=reward.id).count() == 100
    winners = {r.member_id for r in results if isinstance(r, Redemption)}
    assert len(winners) == 100
    accounts = await PointAccount.filter(member_id__in=member_ids)
    balances = {a.member_id: a.balance for a in accounts}
    assert {balances[m] for m in winners} == {150}
    assert {balances[m] for m in set(member_ids) - winners} == {250}
    debits = await LedgerEntry.filter(
        account_id__in=[a.id for a in accounts], source=LedgerSource.REDEMPTION
    )
    debited = Counter(d.account_id for d in debits)
    assert len(debited) == 100 and set(debited.values()) == {1}
    assert {d.amount for d in debits} == {-100}


async def test_balance_for_three_redemptions_allows_exactly_three(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=300)
    reward = await make_reward(t.tenant.id, point_cost=100, stock=50)
    # when
    results = await race(
        redeem(RedeemRequest(t.tenant.id, member.id, reward.id)) for _ in range(20)
    )
    # then
    assert outcomes(results) == {"ok": 3, "INSUFFICIENT_POINTS": 17}
    assert await balance_of(member.id) == 0
    debits = await ledger_of(member.id, LedgerSource.REDEMPTION)
    assert len(debits) == 3
    # The balance after each debit walks down 200, 100, 0: it never went below zero.
    assert sorted(d.balance_after for d in debits) == [0, 100, 200]
    await reward.refresh_from_db()
    assert reward.stock == 47
    assert await Redemption.filter(member_id=member.id).count() == 3


async def test_per_member_limit_holds_under_a_race(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=10_000)
    reward = await make_reward(t.tenant.id, point_cost=100, per_member_limit=2)
    # when
    results = await race(
        redeem(RedeemRequest(t.tenant.id, member.id, reward.id)) for _ in range(20)
    )
    # then
    assert outcomes(results) == {"ok": 2, "LIMIT_REACHED": 18}
    assert await balance_of(member.id) == 9_800
    assert await Redemption.filter(member_id=member.id).count() == 2
    usage = await MemberRewardUsage.get(member_id=member.id, reward_id=reward.id)
    assert usage.redeemed_count == 2


async def test_cooldown_holds_under_a_race(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=10_000)
    reward = await make_reward(t.tenant.id, point_cost=100, cooldown_seconds=3600)
    # when
    results = await race(
        redeem(RedeemRequest(t.tenant.id, member.id, reward.id)) for _ in range(20)
    )
    # then
    assert outcomes(results) == {"ok": 1, "COOLDOWN": 19}
    assert await balance_of(member.id) == 9_900
    assert await Redemption.filter(member_id=member.id).count() == 1
    # when the hour has passed, the next race again lets exactly one through
    clock.advance(timedelta(seconds=3601))
    results = await race(
        redeem(RedeemRequest(t.tenant.id, member.id, reward.id)) for _ in range(20)
    )
    # then
    assert outcomes(results) == {"ok": 1, "COOLDOWN": 19}
    assert await balance_of(member.id) == 9_800


async def test_same_idempotency_key_redeems_once(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=1_000)
    reward = await make_reward(t.tenant.id, point_cost=100, stock=10)
    request = RedeemRequest(t.tenant.id, member.id, reward.id, idempotency_key="order-42")
    # when
    results = await race(redeem(request) for _ in range(20))
    # then
    assert outcomes(results) == {"ok": 20}
    assert len({r.id for r in results}) == 1
    assert await Redemption.filter(member_id=member.id).count() == 1
    assert len(await ledger_of(member.id, LedgerSource.REDEMPTION)) == 1
    assert await balance_of(member.id) == 900
    await reward.refresh_from_db()
    assert reward.stock == 9


async def test_same_key_racing_with_two_different_requests_has_one_effect(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=1_000)
    reward = await make_reward(t.tenant.id, point_cost=100, stock=10)
    one = RedeemRequest(t.tenant.id, member.id, reward.id, quantity=1, idempotency_key="k-2")
    two = RedeemRequest(t.tenant.id, member.id, reward.id, quantity=2, idempotency_key="k-2")
    # when
    results = await race(redeem(req) for _ in range(10) for req in (one, two))
    # then the request that claimed the key first is replayed, the other one conflicts
    (redemption,) = await Redemption.filter(member_id=member.id)
    assert outcomes(results) == {"ok": 10, "IDEMPOTENCY_CONFLICT": 10}
    assert {r.id for r in results if isinstance(r, Redemption)} == {redemption.id}
    assert await balance_of(member.id) == 1_000 - 100 * redemption.quantity
    await reward.refresh_from_db()
    assert reward.stock == 10 - redemption.quantity


@pytest.mark.parametrize(
    ("quantity", "same_reward"), [(2, True), (1, False)], ids=["other-quantity", "other-reward"]
)
async def test_idempotency_key_reused_for_another_redeem_is_a_conflict(
    db: str, quantity: int, same_reward: bool
) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=1_000)
    reward = await make_reward(t.tenant.id, point_cost=100, stock=10)
    other_reward = await make_reward(t.tenant.id, point_cost=100, stock=10)
    first = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id, idempotency_key="k-1"))
    reused = RedeemRequest(
        t.tenant.id,
        member.id,
        reward.id if same_reward else other_reward.id,
        quantity=quantity,
        idempotency_key="k-1",
    )
    # when
    results = await race(redeem(reused) for _ in range(5))
    # then
    assert outcomes(results) == {"IDEMPOTENCY_CONFLICT": 5}
    assert [r.id for r in await Redemption.filter(member_id=member.id)] == [first.id]
    assert await balance_of(member.id) == 900
    await other_reward.refresh_from_db()
    assert other_reward.stock == 10


async def test_same_idempotency_key_awards_points_once(db: str) -> None:
    # given
    t = await make_tenant()
    member = await make_member(t.tenant.id)  # no account yet: its creation races too
    request = AwardRequest(
        t.tenant.id,
        member.id,
        None,
        amount=250,
        source=LedgerSource.PURCHASE,
        description="order 42",
        idempotency_key="purchase-42",
    )
    # when
    results = await race(award_points(request) for _ in range(20))
    # then
    assert outcomes(results) == {"ok": 20}
    assert len({r.entry.id for r in results}) == 1
    assert len(await ledger_of(member.id, LedgerSource.PURCHASE)) == 1
    assert await balance_of(member.id) == 250
    # when the key comes back with another amount
    reused = await race([award_points(replace(request, amount=300))])
    # then
    assert outcomes(reused) == {"IDEMPOTENCY_CONFLICT": 1}
    assert await balance_of(member.id) == 250


async def redeemed(
    tenant_id: UUID, points: int, cost: int, stock: int
) -> tuple[Redemption, Reward]:
    """A new member holding `points` who just redeemed one of a new reward of `cost`."""
    member = await make_member(tenant_id, points=points)
    reward = await make_reward(tenant_id, point_cost=cost, stock=stock)
    redemption = await redeem(RedeemRequest(tenant_id, member.id, reward.id))
    return redemption, reward


@pytest.mark.parametrize("repeats", [2, 10])
async def test_repeated_failed_callback_refunds_once(db: str, repeats: int) -> None:
    # given
    tenant_id = (await make_tenant()).tenant.id
    redemption, reward = await redeemed(tenant_id, points=500, cost=200, stock=5)
    assert await balance_of(redemption.member_id) == 300
    # when
    results = await race(
        transition(
            tenant_id, redemption.id, RedemptionStatus.FAILED, Via.CALLBACK, actor="tenant-backend"
        )
        for _ in range(repeats)
    )
    # then
    assert outcomes(results) == {"ok": repeats}
    assert sum(r.changed for r in results) == 1
    await redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.FAILED
    refunds = await ledger_of(redemption.member_id, LedgerSource.REFUND)
    assert [r.amount for r in refunds] == [200]
    assert await balance_of(redemption.member_id) == 500
    await reward.refresh_from_db()
    assert reward.stock == 5
    kinds = Counter(e.kind for e in await RedemptionEvent.filter(redemption_id=redemption.id))
    assert kinds[RedemptionEventKind.STATUS_CHANGED] == 1
    assert kinds[RedemptionEventKind.POINTS_REFUNDED] == 1
    assert kinds[RedemptionEventKind.STOCK_RETURNED] == 1


async def test_failed_and_fulfilled_callbacks_racing_end_in_one_final_state(db: str) -> None:
    # given ten redemptions, each about to receive two contradicting callbacks at once
    tenant_id = (await make_tenant()).tenant.id
    setups = [await redeemed(tenant_id, points=500, cost=200, stock=5) for _ in range(10)]
    # The pair's order alternates, so either callback gets to go first.
    pairs = [
        (RedemptionStatus.FAILED, RedemptionStatus.FULFILLED)[:: 1 if i % 2 else -1]
        for i in range(len(setups))
    ]
    # when
    results = await race(
        transition(tenant_id, redemption.id, target, Via.CALLBACK, actor="tenant-backend")
        for (redemption, _), pair in zip(setups, pairs, strict=True)
        for target in pair
    )
    # then
    for i, ((redemption, reward), pair) in enumerate(zip(setups, pairs, strict=True)):
        first, second = results[2 * i : 2 * i + 2]
        assert outcomes([first, second]) == {"ok": 1, "ALREADY_FINAL": 1}
        won = pair[0] if isinstance(first, Transition) else pair[1]
        await redemption.refresh_from_db()
        assert redemption.status == won
        refunds = await ledger_of(redemption.member_id, LedgerSource.REFUND)
        await reward.refresh_from_db()
        if won == RedemptionStatus.FAILED:
            assert [r.amount for r in refunds] == [200]
            assert await balance_of(redemption.member_id) == 500
            assert reward.stock == 5
        else:
            assert refunds == []
            assert await balance_of(redemption.member_id) == 300
            assert reward.stock == 4
