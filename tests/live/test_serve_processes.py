"""`gamify serve --workers N` and a worker's grace on SIGTERM, as an operator runs them on
PostgreSQL and Redis (the README's Command line section)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from core.settings import Settings
from models.tenancy.access import create_api_key
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookDelivery
from tests import dbsetup
from tests.factories import make_member, make_reward, make_tenant
from tests.live.conftest import REDEEM
from tests.live.processes import (
    START_TIMEOUT,
    _start,
    _stop,
    _until_answering,
    _until_said,
    claimed_redis_database,
)
from tests.serving import free_port
from tests.webhooks.receiver import Answer, Receiver, running_receiver

pytestmark = pytest.mark.skipif(
    not dbsetup.is_postgres(),
    reason="several processes writing one SQLite file collide ('database is locked'); "
    "this runs on PostgreSQL (GAMIFY_TEST_DATABASE_URL)",
)
CREATE_ENDPOINT = """
mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } errors { code message } }
}"""


def _environment(db: str, redis_url: str, settings: Settings, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {
        **base,
        "DATABASE_URL": db,
        "REDIS_URL": redis_url,
        "GAMIFY_SECRET_KEY": settings.secret_key,
        "GAMIFY_DATA_DIR": str(tmp_path / "data"),
        "GAMIFY_WEBHOOK_ALLOW_PRIVATE": "1",
        "GAMIFY_DB_POOL_SIZE": "5",
        "GAMIFY_HOST": "127.0.0.1",
    }


async def _shop_with_hook(receiver: Receiver) -> tuple[str, str, str]:
    """A tenant whose reward_redeemed webhooks go to `receiver`: its API key, a member with
    points and a reward."""
    new = await make_tenant()
    _, api_key = await create_api_key(new.tenant.id, "backend")
    member = await make_member(new.tenant.id, points=1000)
    reward = await make_reward(new.tenant.id, point_cost=100)
    await create_endpoint(
        new.tenant.id,
        f"{receiver.url}/hook",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    return api_key, str(member.id), str(reward.id)


async def _redeem(url: str, shop: tuple[str, str, str]) -> Any:
    api_key, member_id, reward_id = shop
    async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http:
        response = await http.post(
            "/graphql",
            json={"query": REDEEM, "variables": {"rewardId": reward_id, "memberId": member_id}},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    body = response.json()
    assert "errors" not in body and body["data"]["redeemReward"]["errors"] == [], body
    return body["data"]["redeemReward"]["redemption"]["id"]


async def _delivered(redemption_id: str) -> WebhookDelivery:
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            delivery = await WebhookDelivery.get(redemption_id=redemption_id)
            if delivery.status != DeliveryStatus.PENDING:
                return delivery
            await asyncio.sleep(0.1)


async def test_serve_with_workers_runs_n_servers_and_one_worker(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a shop whose webhooks go to a receiver
    async with running_receiver() as receiver:
        shop = await _shop_with_hook(receiver)
        with claimed_redis_database(redis_url) as own_redis:
            port = free_port()
            env = {**_environment(db, own_redis, settings, tmp_path), "GAMIFY_PORT": str(port)}
            # when the operator serves with two uvicorn processes
            serve = _start("serve", ["serve", "--workers", "2"], env, f"http://127.0.0.1:{port}")
            try:
                await _until_answering(serve)
                children = psutil.Process(serve.process.pid).children(recursive=True)
                commands = [" ".join(c.cmdline()) for c in children]
                redemption_id = await _redeem(serve.url, shop)
                delivery = await _delivered(redemption_id)
            finally:
                _stop(serve)

    # then two server processes and one worker process ran, the worker posting the webhook
    workers = [c for c in commands if c.endswith("engine.cli worker")]
    servers = [c for c in commands if "multiprocessing" in c and "spawn_main" in c]
    assert len(workers) == 1, commands
    assert len(servers) == 2, commands
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [r.path for r in receiver.received] == ["/hook"]
    # and SIGTERM stopped it all
    assert serve.process.returncode == 0, serve.output
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


async def test_a_worker_on_sigterm_finishes_the_delivery_it_is_sending(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a worker sending a webhook to a receiver that takes 3 s to answer
    async with running_receiver() as receiver:
        receiver.default = Answer(200, delay=3.0)
        shop = await _shop_with_hook(receiver)
        with claimed_redis_database(redis_url) as own_redis:
            env = _environment(db, own_redis, settings, tmp_path)
            port = free_port()
            api = _start(
                "api", ["serve", "--no-worker"], {**env, "GAMIFY_PORT": str(port)},
                f"http://127.0.0.1:{port}",
            )  # fmt: skip
            worker = _start("worker", ["worker"], env)
            try:
                await _until_answering(api)
                await _until_said(worker, "arq worker for")
                redemption_id = await _redeem(api.url, shop)
                async with asyncio.timeout(START_TIMEOUT):
                    while not receiver.received:  # noqa: ASYNC110 - no event to wait on
                        await asyncio.sleep(0.05)
                # when the worker is told to stop while the POST is in flight
                worker.process.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(worker.process.wait, 30)
            finally:
                _stop(worker)
                _stop(api)

    # then it waited for the answer (well inside its 10 s grace), recorded it, and exited
    assert code == 0, worker.output
    delivery = await WebhookDelivery.get(redemption_id=redemption_id)
    assert delivery.status == DeliveryStatus.DELIVERED, worker.output
    assert delivery.attempt_count == 1
