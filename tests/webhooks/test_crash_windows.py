"""Invariant 5: a committed redemption's webhook is delivered at least once, whatever dies.

The outbox row is the truth and the queue only a transport. These tests lose the
transport at each point where it can be lost (the enqueue never happens, Redis is
flushed, the worker is killed in the middle of the POST) and check that the relay and a
real arq worker still deliver, and that a delivery is never marked DELIVERED without a
2xx attempt in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.exceptions import DBConnectionError

from core.settings import Settings
from engine.runtime import new_worker, start_worker, stop_worker
from models.redemptions.redeem import RedeemRequest, redeem_with_effects
from models.webhooks import lease as delivery_lease
from models.webhooks.endpoints import create_endpoint
from models.webhooks.lease import Leased
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookAttempt, WebhookDelivery
from tests.factories import make_member, make_reward, make_tenant
from tests.polling import eventually
from tests.serving import uvicorn_serving
from tests.webhooks.receiver import Received, Receiver
from tests.webhooks.worker_process import (
    Queue,
    WorkerProcess,
    enqueue_deliveries,
    worker_environment,
)
from workers import webhooks
from workers.webhook_http import new_client
from workers.webhooks import deliver

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

DRAIN_TIMEOUT = 20.0
HOLD_SECONDS = 20.0  # how long the receiver sits on the request the worker dies in
LEASE_SECONDS = 2


@pytest.fixture(autouse=True)
async def _delivered_means_acknowledged(clean_db: None, db: str) -> AsyncIterator[None]:
    """After every test here: no delivery is DELIVERED without a 2xx attempt in its log."""
    yield
    delivered = set(
        await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).values_list("id", flat=True)
    )
    acknowledged = set(
        await WebhookAttempt.filter(status_code__gte=200, status_code__lt=300).values_list(
            "delivery_id", flat=True
        )
    )
    assert delivered <= acknowledged, f"DELIVERED without a 2xx attempt: {delivered - acknowledged}"


@dataclass
class Shop:
    tenant_id: UUID
    member_id: UUID
    reward_id: UUID

    async def redeem(self) -> list[UUID]:
        """A redemption committed with its outbox rows; nothing is enqueued."""
        redeemed = await redeem_with_effects(
            RedeemRequest(self.tenant_id, self.member_id, self.reward_id)
        )
        rows = WebhookDelivery.filter(redemption_id=redeemed.redemption.id)
        return list(await rows.values_list("id", flat=True))


async def open_shop(receiver_url: str, redemptions: int = 1) -> Shop:
    t = await make_tenant()
    await create_endpoint(
        t.tenant.id,
        receiver_url + "/hooks",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    reward = await make_reward(t.tenant.id, point_cost=10)
    member = await make_member(t.tenant.id, points=10 * redemptions)
    return Shop(t.tenant.id, member.id, reward.id)


async def drain(settings: Settings, queue: Queue) -> None:
    """A real arq worker (WorkerSettings' functions) in this process, until the queue is empty."""
    worker_settings = replace(
        settings, redis_url=queue.url, webhook_allow_private=True, webhook_timeout=5.0
    )
    worker = new_worker(worker_settings, queue_name=queue.name, burst=True, cron_jobs=[])
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            await start_worker(worker)
    finally:
        failure = await stop_worker(worker)
    assert failure is None


def webhook_ids(received: list[Received]) -> list[str]:
    return [r.headers["webhook-id"] for r in received]


async def test_commit_without_enqueue_is_relayed_and_delivered(
    db: str, settings: Settings, receiver: Receiver, queue: Queue
) -> None:
    # given a redemption committed with its outbox row by a process that died before enqueueing
    shop = await open_shop(receiver.url)
    (delivery_id,) = await shop.redeem()
    assert await queue.size() == 0

    # when the relay's cron job runs on a real worker
    relay = await queue.pool.enqueue_job("relay_webhooks")
    assert relay is not None
    await drain(settings, queue)

    # then the relay found the row and the worker delivered it
    assert await relay.result(timeout=5) == 1
    assert webhook_ids(receiver.received) == [str(delivery_id)]
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempt_count == 1


async def test_flushed_redis_loses_no_delivery_and_duplicates_none(
    db: str, settings: Settings, receiver: Receiver, queue: Queue
) -> None:
    # given 20 redemptions whose jobs were enqueued as the API does
    n = 20
    shop = await open_shop(receiver.url, redemptions=n)
    ids = [delivery for _ in range(n) for delivery in await shop.redeem()]
    assert len(ids) == n
    await enqueue_deliveries(queue, ids)
    assert await queue.size() == n

    # when Redis loses everything before any worker ran, then the relay and a worker run
    await queue.pool.flushdb()
    assert await queue.size() == 0
    relay = await queue.pool.enqueue_job("relay_webhooks")
    assert relay is not None
    await drain(settings, queue)

    # then every delivery arrived, exactly once
    assert await relay.result(timeout=5) == n
    assert sorted(webhook_ids(receiver.received)) == sorted(str(i) for i in ids)
    statuses = await WebhookDelivery.filter(id__in=ids).values_list("status", flat=True)
    assert set(statuses) == {DeliveryStatus.DELIVERED}
    assert await WebhookAttempt.filter(delivery_id__in=ids).count() == n


async def test_job_that_failed_before_its_lease_does_not_block_the_relay(
    db: str,
    settings: Settings,
    receiver: Receiver,
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a delivery whose job failed before taking its lease (the database refused a
    # connection): arq fails such a job for good, it does not retry it
    shop = await open_shop(receiver.url)
    (delivery_id,) = await shop.redeem()
    await enqueue_deliveries(queue, [delivery_id])
    calls = 0

    async def refused_once(*args: Any, **kwargs: Any) -> dict[UUID, Leased]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DBConnectionError("sorry, too many clients already")
        return await delivery_lease.lease_many(*args, **kwargs)

    monkeypatch.setattr(webhooks, "lease_many", refused_once)
    await drain(settings, queue)
    assert calls == 1 and receiver.received == []

    # when the relay runs: the delivery is still due, unleased, with the same attempt
    # key, so the relay names its job as the failed one was named
    relay = await queue.pool.enqueue_job("relay_webhooks")
    assert relay is not None
    await drain(settings, queue)

    # then the job is accepted and runs (arq refuses a job id while its result is kept)
    assert await relay.result(timeout=5) == 1
    assert webhook_ids(receiver.received) == [str(delivery_id)]
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED


@contextlib.asynccontextmanager
async def dripping_receiver(interval: float) -> AsyncIterator[str]:
    """Answers 200 with a body it sends one byte every `interval` seconds (100 bytes)."""
    handlers: set[asyncio.Task[None]] = set()

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.read(65536)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                await writer.drain()
                await asyncio.sleep(interval)
                writer.write(b"x")
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def test_a_dripping_receiver_does_not_hold_the_attempt_past_the_timeout(
    db: str, settings: Settings
) -> None:
    # given a receiver whose every read comes within the timeout, but whose answer as a
    # whole would take 40 s: a lease of a few seconds would run out while it drips, and
    # the relay would hand the delivery to a second sender
    hook_settings = replace(
        settings, webhook_allow_private=True, webhook_timeout=1.0, webhook_lease_seconds=3
    )
    async with dripping_receiver(interval=0.4) as url:
        shop = await open_shop(url)
        (delivery_id,) = await shop.redeem()

        # when a worker makes the attempt (the bound only turns a hang into a failure)
        async with new_client(hook_settings.webhook_timeout) as client:
            async with asyncio.timeout(30):
                status, result = await deliver(delivery_id, hook_settings, client)

    # then the attempt ends on its own whole-exchange timeout, not when the receiver is done
    # dripping, and is retried later
    assert status == DeliveryStatus.PENDING and result is not None
    assert result.error == "Timed out"
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.attempt_count == 1 and delivery.leased_until is None


class HoldingReceiver(Receiver):
    """Sits on the first request it gets (up to HOLD_SECONDS, or until released): a slow
    receiver that is still working when the worker that called it dies."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def _handle(self, request: Request) -> Response:
        if self.holding.is_set():
            return await super()._handle(request)
        self.received.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        self.holding.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), HOLD_SECONDS)
        return Response("{}", 200, media_type="application/json")


@contextlib.asynccontextmanager
async def holding_receiver() -> AsyncIterator[HoldingReceiver]:
    receiver = HoldingReceiver()
    app = Starlette(routes=[Route("/{path:path}", receiver._handle, methods=["POST"])])
    async with uvicorn_serving(app) as url:
        receiver.url = url
        try:
            yield receiver
        finally:
            receiver.release.set()  # else shutting down waits for the held request


async def test_worker_killed_mid_delivery_is_replaced_after_its_lease(
    db: str, settings: Settings, queue: Queue, tmp_path: Path
) -> None:
    async with holding_receiver() as receiver:
        # given a committed redemption whose job a worker process is running, and a
        # receiver that sits on the request
        shop = await open_shop(receiver.url)
        (delivery_id,) = await shop.redeem()
        env = worker_environment(
            db,
            queue,
            GAMIFY_WEBHOOK_LEASE_SECONDS=str(LEASE_SECONDS),
            GAMIFY_WEBHOOK_TIMEOUT="5",
            GAMIFY_DB_POOL_SIZE="5",
        )
        first = await WorkerProcess.start(queue.name, env, tmp_path / "first.log")
        second: WorkerProcess | None = None
        try:
            await enqueue_deliveries(queue, [delivery_id])
            async with asyncio.timeout(15):
                await receiver.holding.wait()
            leased = await WebhookDelivery.get(id=delivery_id)
            assert leased.status == DeliveryStatus.PENDING and leased.leased_until is not None

            # when the worker dies in the middle of the POST and another one starts
            await first.kill()
            second = await WorkerProcess.start(queue.name, env, tmp_path / "second.log")

            # then, once the lease has run out, the relay hands the delivery to the new
            # worker, which sends the same webhook-id again and gets its 200
            async def delivered() -> bool:
                row = await WebhookDelivery.get(id=delivery_id)
                return row.status == DeliveryStatus.DELIVERED

            try:
                await eventually(delivered, within=LEASE_SECONDS + 10 + 8, interval=0.2)
            except TimeoutError:
                pytest.fail(f"not delivered after the lease ran out:\n{second.log()}")
            assert second.running, second.log()
        finally:
            await first.kill()
            if second is not None:
                assert await second.stop() == 0, second.log()
    assert webhook_ids(receiver.received) == [str(delivery_id)] * 2
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.attempt_count == 1 and delivery.leased_until is None
    # the killed attempt left no record; the one that counted did
    attempts = await WebhookAttempt.filter(delivery_id=delivery_id)
    assert [a.status_code for a in attempts] == [200]
