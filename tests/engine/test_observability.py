"""Logs, metrics and readiness as an operator sees them: the engine served by uvicorn on
127.0.0.1 (tests.live.conftest.serving), a real Redis database of these tests' own, real
arq workers and a real webhook receiver."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import strawberry
import websockets
from arq.connections import ArqRedis, create_pool
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.settings import Settings
from engine.app import create_app
from engine.embedded import EmbeddedRedis
from engine.logging_setup import log_handler
from engine.request_id import RequestIdMiddleware
from engine.runtime import new_worker, start_worker, stop_worker
from models.tenancy.access import create_api_key
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat
from schema.error_log import LoggedSchema
from tests.factories import make_member, make_reward, make_tenant
from tests.live.client import PROTOCOL, SubscriptionClient
from tests.live.conftest import MEMBER_TOKEN, REDEEM, LiveServer, serving
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.worker_process import dedicated_redis_url
from workers.heartbeat import HEARTBEAT_KEY
from workers.settings import redis_settings_from_url

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

# This module's Redis database: its tests flush it, and read the default arq queue and the
# heartbeat key, which no other test may touch meanwhile.
REDIS_DB = 11
ROOT = Path(__file__).resolve().parents[2]
WAIT = 15.0  # seconds a state the tests wait for may take on a loaded machine
SECRETS = ("S3cret-inline-pw", "pm-auth-value-XYZ")


@pytest.fixture
async def obs_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(redis_settings_from_url(dedicated_redis_url(redis_url, REDIS_DB)))
    await pool.flushdb()
    yield pool
    await pool.flushdb()
    await pool.aclose()


@pytest.fixture
def obs_settings(settings: Settings, redis_url: str) -> Settings:
    return replace(
        settings,
        redis_url=dedicated_redis_url(redis_url, REDIS_DB),
        webhook_allow_private=True,  # the receiver is on 127.0.0.1
        webhook_timeout=5.0,
    )


@pytest.fixture
async def server(db: str, obs_settings: Settings, obs_redis: ArqRedis) -> AsyncIterator[LiveServer]:
    async with serving(obs_settings) as live:
        yield live


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of the process, as GAMIFY_LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a /metrics body (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def until(condition_met: object, what: str) -> None:
    """Wait (bounded) for an awaitable-returning callable to give True."""
    deadline = time.monotonic() + WAIT
    while not await condition_met():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT:g} s: {what}")
        await asyncio.sleep(0.05)


# ---- logs


async def test_client_mistakes_are_info_lines_without_the_document_or_a_traceback(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    # given a capture of every record, and a tenant's backend key
    caplog.set_level(logging.DEBUG)
    t = await make_tenant()
    _, key = await create_api_key(t.tenant.id, "backend")
    backend = {"Authorization": f"Bearer {key}"}
    bad_token = {"Authorization": "Bearer not-a-token"}
    aliases = " ".join(f"a{n}: __typename" for n in range(20))

    # when a login carries an inline password next to an unknown argument (and a bad token),
    # point-master settings carry their auth value next to an unknown field, an admin query
    # comes with a token that is no token, or from the backend, a cursor is garbage, and a
    # query has too many aliases
    mistakes = [
        (
            f'mutation {{ login(email: "a@b.test", password: "{SECRETS[0]}", remember: true) '
            "{ token } }",
            bad_token,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "mutation { setPointMasterSettings(input: "
            f'{{pointsLogAuthValue: "{SECRETS[1]}", colour: 1}}) {{ errors {{ code }} }} }}',
            backend,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ apiKeys { id } }", bad_token, "UNAUTHENTICATED"),
        ("{ apiKeys { id } }", backend, "FORBIDDEN"),
        ('{ rewards(after: "garbage!") { edges { node { id } } } }', backend, None),
        (f"{{ {aliases} }}", {}, "GRAPHQL_VALIDATION_FAILED"),
    ]
    answers = [
        (await server.http.post("/graphql", json={"query": query}, headers=headers)).json()
        for query, headers, _ in mistakes
    ]

    # then each answered with an error, and each was logged as one INFO line with its code
    assert all(answer.get("errors") for answer in answers), answers
    codes = [
        code or answer["errors"][0]["extensions"]["code"]
        for (_, _, code), answer in zip(mistakes, answers, strict=True)
    ]
    graphql_lines = [r for r in caplog.records if r.name == "gamify.graphql"]
    assert [r.levelno for r in graphql_lines] == [logging.INFO] * len(mistakes)
    assert [r.getMessage().split()[2] for r in graphql_lines] == codes
    assert "UNAUTHENTICATED in apiKeys at apiKeys" in graphql_lines[2].getMessage()
    # and nothing anywhere is an error, has a traceback or quotes the document
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    logged = caplog.text
    assert not [secret for secret in SECRETS if secret in logged]
    assert "mutation" not in logged and "garbage" not in logged


async def test_an_unexpected_error_is_an_error_with_a_bounded_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a schema whose resolver fails with an exception quoting its 100 kB argument
    @strawberry.type
    class Query:
        @strawberry.field
        def store(self, name: str) -> str:
            raise RuntimeError(f"cannot store {name}")

    schema = LoggedSchema(query=Query)
    caplog.set_level(logging.DEBUG)
    big = "x" * 100_000

    # when it runs
    result = await schema.execute("query($n: String!) { store(name: $n) }", {"n": big})

    # then one ERROR line names the field and carries the traceback, cut short
    assert result.errors
    (record,) = [r for r in caplog.records if r.name == "gamify.graphql"]
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert message.startswith("unexpected error in store at store\nTraceback")
    assert "RuntimeError: cannot store xxx" in message
    assert len(message) < 5_000


async def test_json_logs_carry_the_callers_request_id_which_comes_back(
    server: LiveServer, json_log: io.StringIO
) -> None:
    # when a request with a request id makes a client mistake
    response = await server.http.post(
        "/graphql",
        json={"query": "{ apiKeys { id } }"},
        headers={"Authorization": "Bearer not-a-token", "X-Request-ID": "shop-7f3a.1"},
    )

    # then the answer carries the id, and so does the JSON line logged for it
    assert response.headers["x-request-id"] == "shop-7f3a.1"
    lines = [line for line in json_lines(json_log) if line["logger"] == "gamify.graphql"]
    assert lines == [
        {
            "time": lines[0]["time"],
            "level": "INFO",
            "logger": "gamify.graphql",
            "message": "client error UNAUTHENTICATED in apiKeys at apiKeys",
            "request_id": "shop-7f3a.1",
        }
    ]


async def test_a_request_without_a_valid_id_gets_a_new_one_on_every_response(
    server: LiveServer,
) -> None:
    # when requests come without an id, with one too long, or with one that has a newline
    plain = await server.http.get("/health")
    missing = await server.http.get("/no-such-page")
    too_long = await server.http.get("/health", headers={"X-Request-ID": "a" * 129})
    forged = await server.http.get("/health", headers={"X-Request-ID": "a\tb"})

    # then each response carries a new id of its own
    ids = [r.headers["x-request-id"] for r in (plain, missing, too_long, forged)]
    assert missing.status_code == 404
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == 4


async def test_a_websocket_gets_its_request_id_on_the_handshake(server: LiveServer) -> None:
    # when a WebSocket opens with a request id
    async with websockets.connect(
        server.ws_url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers={"X-Request-ID": "socket-1"},
        proxy=None,
    ) as ws:
        # then the handshake's answer carries it
        assert ws.response is not None
        assert ws.response.headers["x-request-id"] == "socket-1"


async def test_an_unhandled_exception_is_a_500_and_a_log_line_with_the_request_id(
    json_log: io.StringIO,
) -> None:
    # given an app whose route fails
    async def failing(_request: Request) -> Response:
        raise RuntimeError("the disk is on fire")

    app = Starlette(routes=[Route("/", failing)], middleware=[Middleware(RequestIdMiddleware)])

    # when it is called with a request id
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.get("/", headers={"X-Request-ID": "fire-1"})

    # then the 500 carries the id, and the error line has it and the traceback
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "fire-1"
    (line,) = [line for line in json_lines(json_log) if line["logger"] == "gamify.http"]
    assert line["level"] == "ERROR" and line["request_id"] == "fire-1"
    assert "RuntimeError: the disk is on fire" in str(line["exception"])


# ---- metrics


async def test_metrics_count_redemptions_their_webhooks_and_the_queue(
    server: LiveServer, receiver: Receiver, obs_settings: Settings
) -> None:
    # given a member with points for one reward, and a webhook endpoint on a receiver
    t = await make_tenant()
    _, key = await create_api_key(t.tenant.id, "backend")
    member = await make_member(t.tenant.id, points=100)
    reward = await make_reward(t.tenant.id, point_cost=100)
    await create_endpoint(
        t.tenant.id,
        receiver.url + "/hooks",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    before = await scrape(server.http)

    # when the backend redeems twice (the second has too few points), with no worker running
    variables = {"rewardId": str(reward.id), "memberId": str(member.id)}
    for _ in range(2):
        await server.http.post(
            "/graphql",
            json={"query": REDEEM, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
        )
    waiting = await scrape(server.http)

    # then one redemption and one refusal are counted, both timed as redeemReward,
    # and the webhook job waits in the queue
    def delta(after: str, name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta(waiting, "gamify_redemptions_total", outcome="REDEEMED") == 1
    assert delta(waiting, "gamify_redemptions_total", outcome="INSUFFICIENT_POINTS") == 1
    timed = {"route": "/graphql", "operation": "redeemReward"}
    assert delta(waiting, "gamify_request_duration_seconds_count", **timed) == 2
    assert metric(waiting, "gamify_queue_jobs") == 1

    # when a worker drains the queue
    worker = new_worker(obs_settings, burst=True, cron_jobs=[])
    await start_worker(worker)
    assert await stop_worker(worker) is None
    drained = await scrape(server.http)

    # then the delivery is counted as delivered, and the queue is empty
    assert len(receiver.received) == 1
    assert delta(drained, "gamify_webhook_deliveries_total", outcome="DELIVERED") == 1
    assert metric(drained, "gamify_queue_jobs") == 0


async def test_metrics_show_live_subscriptions(server: LiveServer) -> None:
    # given a member's token
    t = await make_tenant()
    _, key = await create_api_key(t.tenant.id, "backend")
    member = await make_member(t.tenant.id)
    token = (await server.gql(MEMBER_TOKEN, {"id": str(member.id)}, key))["token"]
    before = metric(await scrape(server.http), "gamify_live_subscriptions")

    async def live_now(expected: float) -> bool:
        return metric(await scrape(server.http), "gamify_live_subscriptions") == expected

    # when the member subscribes to its balance
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {token}") as client:
        await client.subscribe("1", "subscription { myBalanceChanged { balance } }")

        # then one more subscription is live
        await until(lambda: live_now(before + 1), "the subscription counted")

    # and none once the socket closed
    await until(lambda: live_now(before), "the subscription uncounted")


async def test_metrics_are_for_loopback_callers_or_the_bearer_of_the_token(
    db: str, settings: Settings
) -> None:
    async def status(app: Starlette, client: str, token: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return (await http.get("/metrics", headers=headers)).status_code

    # given the default (no token), and then a token
    open_on_loopback = create_app(settings, init_orm=False)
    with_token = create_app(replace(settings, metrics_token="scrape-me"), init_orm=False)

    # then loopback may scrape and another address may not, unless it brings the token
    assert await status(open_on_loopback, "127.0.0.1") == 200
    assert await status(open_on_loopback, "::1") == 200
    assert await status(open_on_loopback, "10.1.2.3") == 403
    assert await status(with_token, "10.1.2.3") == 401
    assert await status(with_token, "127.0.0.1") == 401
    assert await status(with_token, "10.1.2.3", "wrong") == 401
    assert await status(with_token, "10.1.2.3", "scrape-me") == 200


async def test_metrics_add_up_the_processes_of_a_multiprocess_serve(
    db: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the shared directory `gamify serve --workers N` sets, where a worker process
    # delivered a webhook and an API process that has since ended held a subscription
    shared = tmp_path / "metrics"
    shared.mkdir()
    counted = (
        "from core.metrics import LIVE_SUBSCRIPTIONS, count_delivery\n"
        "count_delivery('DELIVERED')\n"
        "LIVE_SUBSCRIPTIONS.inc()\n"
    )
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", counted, env=environment, cwd=ROOT
    )
    assert await process.wait() == 0
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))

    # when this process is scraped
    app = create_app(settings, init_orm=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        text = await scrape(http)

    # then the worker's delivery is there, and the ended process's subscription is not
    assert metric(text, "gamify_webhook_deliveries_total", outcome="DELIVERED") == 1
    assert metric(text, "gamify_live_subscriptions") == 0


# ---- readiness


async def test_ready_when_a_worker_beats_and_not_without(
    server: LiveServer, obs_settings: Settings, obs_redis: ArqRedis
) -> None:
    # given no worker has ever run on this Redis
    # then /ready names the missing worker, while /health stays up
    response = await server.http.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["checks"]) == (
        "unavailable",
        {"database": "ok", "redis": "ok", "worker": "error: no worker heartbeat"},
    )
    assert (await server.http.get("/health")).status_code == 200

    # when a worker runs
    worker = new_worker(obs_settings, queue_name="obs:idle", cron_jobs=[])
    start_worker(worker)
    try:

        async def ready() -> bool:
            return (await server.http.get("/ready")).status_code == 200

        # then /ready answers 200 with every check ok
        await until(ready, "the worker's heartbeat seen")
        assert (await server.http.get("/ready")).json()["checks"] == {
            "database": "ok",
            "redis": "ok",
            "worker": "ok",
        }
    finally:
        assert await stop_worker(worker) is None

    # when the last beat is two minutes old (the worker stopped; its key would expire)
    await obs_redis.set(HEARTBEAT_KEY, repr(time.time() - 120))

    # then /ready says how old it is
    stale = await server.http.get("/ready")
    assert stale.status_code == 503
    assert stale.json()["checks"]["worker"] == "error: last worker heartbeat 120 s ago"


async def test_ready_names_redis_when_it_is_gone(
    db: str, settings: Settings, tmp_path: Path
) -> None:
    # given the engine on a Redis of its own, and a worker's fresh heartbeat there
    with EmbeddedRedis(tmp_path) as redis_server:
        own = replace(settings, redis_url=redis_server.url)
        async with serving(own) as live:
            pool = await create_pool(redis_settings_from_url(redis_server.url))
            await pool.set(HEARTBEAT_KEY, repr(time.time()))
            await pool.aclose()
            assert (await live.http.get("/ready")).status_code == 200

            # when Redis stops
            redis_server.stop()

            # then /ready answers 503 naming Redis, and /health stays up
            response = await live.http.get("/ready")
            assert response.status_code == 503
            checks = response.json()["checks"]
            assert checks["database"] == "ok"
            assert checks["redis"].startswith("error: ")
            assert checks["worker"] == "unknown: no Redis"
            assert (await live.http.get("/health")).status_code == 200
