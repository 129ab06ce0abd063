"""The points cron tells `myBalanceChanged` subscribers when pending points become active."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from core.broker import Broker, balances_channel
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource
from tests.factories import make_member, make_tenant
from workers.points import settle_points
from workers.settings import one_unit

T0 = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def brokers(redis_url: str) -> AsyncIterator[tuple[Broker, Broker]]:
    """(the worker's publisher, a listening API process): two connections, as in production."""
    publisher, listener = Broker(redis_url), Broker(redis_url)
    yield publisher, listener
    await publisher.close()
    await listener.close()


async def test_activation_by_the_cron_is_announced_to_the_member(
    db: str, brokers: tuple[Broker, Broker]
) -> None:
    # given 300 points valid from T0 + 1 h and 50 active now, and a listener on the tenant
    publisher, listener = brokers
    tenant = (await make_tenant()).tenant
    member = await make_member(tenant.id)
    bystander = await make_member(tenant.id)
    with clock.frozen_at(T0):
        for who, amount, valid_from in (
            (member, 300, T0 + timedelta(hours=1)),
            (bystander, 50, None),
        ):
            await award_points(
                AwardRequest(
                    tenant_id=tenant.id,
                    member_id=who.id,
                    definition_id=None,
                    amount=amount,
                    source=LedgerSource.PURCHASE,
                    valid_from=valid_from,
                )
            )
    async with listener.subscribe(balances_channel(tenant.id)) as subscriber:
        # when the cron runs after the points became valid
        with clock.frozen_at(T0 + timedelta(hours=1, minutes=1)):
            settled = await one_unit(settle_points)({"broker": publisher})

        # then the member, and only the member, hears of its new balance
        update = await asyncio.wait_for(subscriber.next(), timeout=5)
        assert settled == 1
        assert (update["memberId"], update["balance"], update["pending"]) == (
            str(member.id),
            300,
            0,
        )
        # and nothing more: the next message is a marker published after the cron's
        await publisher.publish(balances_channel(tenant.id), {"marker": True})
        assert await asyncio.wait_for(subscriber.next(), timeout=5) == {"marker": True}
