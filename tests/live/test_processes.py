"""Two API processes and a worker on PostgreSQL + Redis: a subscriber on one API process
hears of changes made through the other and by the worker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from core.broker import redemptions_channel
from core.settings import Settings
from models.redemptions.tables import RedemptionEvent
from models.tenancy.access import create_api_key
from tests import dbsetup
from tests.factories import PASSWORD, make_member, make_reward, make_tenant
from tests.graphql_client import graphql_value
from tests.live.client import MY_REDEMPTION_UPDATES, REDEMPTION_UPDATES, SubscriptionClient
from tests.live.conftest import LOGIN, MEMBER_TOKEN, REDEEM
from tests.live.processes import (
    claimed_redis_database,
    engine_environment,
    engine_processes,
    outputs,
)
from tests.webhooks.receiver import Answer, running_receiver

pytestmark = pytest.mark.skipif(
    not dbsetup.is_postgres(),
    reason="several processes writing one SQLite file collide ('database is locked'); "
    "this runs on PostgreSQL (GAMIFY_TEST_DATABASE_URL)",
)

CREATE_ENDPOINT = """
mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } errors { code message } }
}"""


async def _gql(url: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http:
        return await graphql_value(http, query, variables, token)


async def test_subscriber_on_one_process_hears_the_other_and_the_worker(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a webhook receiver that answers "fulfilled, here is the code"
    async with running_receiver() as receiver:
        receiver.default = Answer(200, json.dumps({"status": "fulfilled", "data": {"code": "W-1"}}))
        with claimed_redis_database(redis_url) as own_redis:
            environment = engine_environment(
                db,
                own_redis,
                settings.secret_key,
                tmp_path / "data",
                GAMIFY_WEBHOOK_ALLOW_PRIVATE="1",
                GAMIFY_WEBHOOK_TIMEOUT="5",
            )
            # and two API processes (A, B) and one worker on the test database and Redis
            async with engine_processes(2, environment) as ((a, b), worker):
                try:
                    await _scenario(a.url, a.ws_url, b.url, receiver.url, redis_url)
                except BaseException:
                    print(outputs([a, b, worker]))
                    raise


async def _subscribed_in_redis(redis_url: str, channel: str, within: float = 10) -> None:
    """Until some process subscribes to `channel`: graphql-transport-ws acknowledges no
    `subscribe`, and a stream that starts after a commit is not told of it (it replays
    nothing without a cursor)."""
    client = redis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(within):
            while not (await client.pubsub_numsub(channel))[0][1]:  # noqa: ASYNC110 - Redis has no event to wait on
                await asyncio.sleep(0.01)
    finally:
        await client.aclose()


async def _scenario(a_url: str, a_ws: str, b_url: str, receiver_url: str, redis_url: str) -> None:
    # given a tenant with a webhook endpoint (set up through B), a member and a reward
    new = await make_tenant()
    _, api_key = await create_api_key(new.tenant.id, "backend")
    member = await make_member(new.tenant.id, points=500)
    reward = await make_reward(new.tenant.id, point_cost=200, stock=3)
    admin = (await _gql(b_url, LOGIN, {"e": new.admin.email, "p": PASSWORD}))["token"]
    member_token = (await _gql(b_url, MEMBER_TOKEN, {"id": str(member.id)}, api_key))["token"]
    endpoint = {
        "url": f"{receiver_url}/hook",
        "events": ["reward_redeemed"],
        "payloadFormat": "GAMIFY",
    }
    await _gql(b_url, CREATE_ENDPOINT, {"input": endpoint}, admin)

    # and the admin and the member subscribed on A
    async with (
        SubscriptionClient.connected(a_ws, f"Bearer {admin}") as watcher,
        SubscriptionClient.connected(a_ws, f"Bearer {member_token}") as own,
    ):
        await watcher.subscribe("all", REDEMPTION_UPDATES)
        await own.subscribe("mine", MY_REDEMPTION_UPDATES)
        await _subscribed_in_redis(redis_url, redemptions_channel(new.tenant.id))
        # when the member redeems through B (the worker then posts the webhook, whose
        # answer fulfils the redemption)
        redeemed = await _gql(b_url, REDEEM, {"rewardId": str(reward.id)}, member_token)
        redemption_id = redeemed["redemption"]["id"]
        updates = await watcher.collect("all", 4, within=30)
        mine = await own.collect("mine", 4, within=30)

    # then A's subscribers saw B's redeem, then the worker's webhook and fulfilment
    stored = await RedemptionEvent.filter(redemption_id=redemption_id).order_by("id")
    assert [u["eventId"] for u in updates] == [str(e.id) for e in stored]
    assert [(u["event"]["kind"], u["newStatus"], u["event"]["actor"]) for u in updates] == [
        ("REDEEM_REQUESTED", "REDEEMED", f"member:{member.id}"),
        ("POINTS_WITHDRAWN", "REDEEMED", f"member:{member.id}"),
        ("WEBHOOK_POSTED", "FULFILLED", "system:webhooks"),
        ("STATUS_CHANGED", "FULFILLED", "system:webhook-response"),
    ]
    posted = updates[2]["event"]["data"]
    assert posted["statusCode"] == 200 and posted["url"] == f"{receiver_url}/hook"
    assert updates[3]["redemption"]["fulfillmentData"] == {"code": "W-1"}
    assert [u["eventId"] for u in mine] == [u["eventId"] for u in updates]
