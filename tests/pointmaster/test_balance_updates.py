"""A point-master batch tells `myBalanceChanged` subscribers what it did to their balances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.broker import Broker, balances_channel
from models.members.tables import Member
from schema.live import BalanceUpdate
from tests.pointmaster.conftest import Follower, fixture
from workers.settings import one_unit
from workers.sync import apply_sync_batch


@pytest.fixture
async def publisher(redis_url: str) -> AsyncIterator[Broker]:
    """The worker's broker: another connection than the subscriber's, as in production."""
    broker = Broker(redis_url)
    yield broker
    await broker.close()


@pytest.fixture
async def listener(redis_url: str) -> AsyncIterator[Broker]:
    broker = Broker(redis_url)
    yield broker
    await broker.close()


async def _updates(subscriber: Any, count: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(subscriber.next(), timeout=5) for _ in range(count)]


async def test_a_balances_batch_announces_each_members_new_total(
    balances_follower: Follower, publisher: Broker, listener: Broker
) -> None:
    # given an admin UI listening to the tenant's balance changes, and the master's snapshot
    body = fixture("voyado_balances_request.json")
    tenant_id = balances_follower.tenant_id
    async with listener.subscribe(balances_channel(tenant_id)) as subscriber:
        accepted = await balances_follower.post("balances", body)
        assert accepted.status_code == 202, accepted.text

        # when the worker applies it
        assert (
            await one_unit(apply_sync_batch)({"broker": publisher}, accepted.json()["id"])
            == "Completed"
        )

        # then each member's new total arrives; what needs history is null (FOLLOWER_BALANCE)
        updates = await _updates(subscriber, 2)
    members = {str(m.id): m.external_user_id for m in await Member.filter(tenant_id=tenant_id)}
    totals = {members[u["memberId"]]: u["balance"] for u in updates}
    assert totals == {body[0]["contactId"]: 122, body[1]["contactId"]: 63}
    for update in updates:
        shown = BalanceUpdate.from_message(update)
        assert (shown.pending, shown.expiring_soon, shown.history_at_master) == (None, None, True)


async def test_a_transactions_batch_announces_pending_points_too(
    transactions_follower: Follower, publisher: Broker, listener: Broker
) -> None:
    # given one contact earning 100 points now and 40 that become valid tomorrow
    now = datetime.now(UTC)
    item = {"contactId": "contact-7", "definitionId": 1, "source": "Purchase"}
    body = [
        {**item, "amount": 100, "timeStamp": now.isoformat()},
        {**item, "amount": 40, "timeStamp": now.isoformat(),
         "validFrom": (now + timedelta(days=1)).isoformat()},
    ]  # fmt: skip
    async with listener.subscribe(balances_channel(transactions_follower.tenant_id)) as sub:
        accepted = await transactions_follower.post("transactions", body)
        assert accepted.status_code == 202, accepted.text

        # when the worker applies the batch
        assert (
            await one_unit(apply_sync_batch)({"broker": publisher}, accepted.json()["id"])
            == "Completed"
        )

        # then the member's account is announced with its pending points, history kept here
        (update,) = await _updates(sub, 1)
        assert (update["balance"], update["pending"], update["historyAtMaster"]) == (100, 40, False)
        assert update["expiringSoon"] == 0
