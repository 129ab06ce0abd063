"""A popular reward's redemptions take turns in the process (core.turns), not in
PostgreSQL on the reward's row lock: while that row is locked, two of them hold a pooled
connection and the others wait without one, so the rest of the process goes on."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import pytest

from models.catalog.tables import Reward
from models.points.tables import PointAccount
from models.redemptions.one_statement import STOCK_AT_ONCE
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionStatus
from tests import dbsetup
from tests.conftest import assert_ledger_matches_balances
from tests.factories import make_member, make_reward, make_tenant
from tests.models import test_races as races
from tests.polling import eventually

CROWD = 30  # more than the test pool's 20 connections


@pytest.mark.skipif(not dbsetup.is_postgres(), reason="the one-statement way is PostgreSQL's")
@pytest.mark.parametrize("cached", [True, False], ids=["cached-catalog", "catalog-read"])
async def test_a_popular_reward_waits_on_its_locked_row_with_two_connections(
    db: str, request: pytest.FixtureRequest, cached: bool
) -> None:
    # given a stocked reward, another reward, 30 members and one more, 100 points each
    if cached:
        request.getfixturevalue("following")
    shop = await make_tenant()
    tenant_id = shop.tenant.id
    popular = await make_reward(tenant_id, point_cost=10, stock=100)
    other = await make_reward(tenant_id, point_cost=10, stock=100)
    crowd = await races.seed_members(tenant_id, CROWD, 100)
    late = await make_member(tenant_id, points=100)
    if cached:  # the process has the catalog in memory: a redemption each
        warm = await make_member(tenant_id, points=100)
        for reward in (popular, other):
            await redeem(RedeemRequest(tenant_id, warm.id, reward.id))
    stock = {r.id: r.stock for r in await Reward.filter(id__in=[popular.id, other.id])}
    # and another transaction holding the popular reward's row
    holder, watcher = await asyncpg.connect(db), await asyncpg.connect(db)
    locked = holder.transaction()
    await locked.start()

    async def waiting_on_locks() -> int:
        # Not asked inside the holder's transaction: it would keep its first snapshot.
        return int(
            await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )

    rush: list[asyncio.Task[Redemption]] = []
    try:
        await holder.execute('SELECT 1 FROM "reward" WHERE "id" = $1 FOR UPDATE', popular.id)
        # when the 30 members redeem it at once
        rush += [
            asyncio.create_task(redeem(RedeemRequest(tenant_id, member_id, popular.id)))
            for member_id in crowd
        ]
        await eventually(waiting_on_locks)
        await asyncio.sleep(0.3)  # time for the others to reach the row, were they to
        # then two of them wait on the row in PostgreSQL
        assert await waiting_on_locks() == STOCK_AT_ONCE == 2
        # and a member redeeming another reward meanwhile is served (the pool has room)
        async with asyncio.timeout(5):
            served = await redeem(RedeemRequest(tenant_id, late.id, other.id))
        assert served.status == RedemptionStatus.REDEEMED
        assert not any(task.done() for task in rush)
    finally:
        await locked.rollback()
        await holder.close()
        await watcher.close()
        ended = await races.race(rush)
    # and once the row is free, every one of the 30 is redeemed, each debited once
    assert races.outcomes(ended) == {"ok": CROWD}
    after = {r.id: r.stock for r in await Reward.filter(id__in=[popular.id, other.id])}
    assert after == {popular.id: stock[popular.id] - CROWD, other.id: stock[other.id] - 1}
    assert await _balances(crowd) == [90] * CROWD
    assert await Redemption.filter(reward_id=popular.id, member_id__in=crowd).count() == CROWD
    await assert_ledger_matches_balances()


async def _balances(member_ids: list[UUID]) -> list[int]:
    accounts = await PointAccount.filter(member_id__in=member_ids)
    return [account.balance for account in accounts]
