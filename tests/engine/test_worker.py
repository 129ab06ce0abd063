"""The arq worker of workers.settings runs jobs against Redis and the test database."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import RedisSettings, create_pool

from core import clock
from core.settings import Settings
from engine.runtime import new_worker, start_worker, stop_worker
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource, PointAccount
from tests.factories import make_member, make_tenant
from workers.settings import WorkerSettings, redis_settings_from_url

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def test_worker_runs_a_job_enqueued_by_name(
    db: str, settings: Settings, redis_url: str
) -> None:
    # given a member whose points become valid an hour after T0
    tenant = (await make_tenant()).tenant
    member = await make_member(tenant.id)
    with clock.frozen_at(T0):
        await award_points(
            AwardRequest(
                tenant_id=tenant.id,
                member_id=member.id,
                definition_id=None,
                amount=250,
                source=LedgerSource.PURCHASE,
                valid_from=T0 + timedelta(hours=1),
            )
        )
    queue = f"test:{uuid.uuid4().hex}"
    pool = await create_pool(redis_settings_from_url(redis_url), default_queue_name=queue)

    # when, two hours later, the settle job is enqueued by name and a worker drains the queue
    with clock.frozen_at(T0 + timedelta(hours=2)):
        job = await pool.enqueue_job("settle_points")
        assert job is not None
        worker = new_worker(
            replace(settings, redis_url=redis_url), queue_name=queue, burst=True, cron_jobs=[]
        )
        await start_worker(worker)
        failure = await stop_worker(worker)

    # then the job settled the grant and the points are active
    try:
        assert failure is None
        assert await job.result(timeout=5) == 1
        account = await PointAccount.get(member_id=member.id)
        assert (account.balance, account.pending) == (250, 0)
    finally:
        await pool.aclose()


def test_points_are_settled_every_minute() -> None:
    # given the worker's cron job for points
    (job,) = [job for job in WorkerSettings.cron_jobs if job.name == "cron:settle_points"]

    # when the next runs are computed from 12:00:30
    job.calculate_next(datetime(2031, 3, 1, 12, 0, 30, tzinfo=UTC))
    first = job.next_run
    assert first is not None
    job.calculate_next(first)

    # then it runs at the start of every minute
    assert first.replace(microsecond=0) == datetime(2031, 3, 1, 12, 1, tzinfo=UTC)
    assert job.next_run is not None and job.next_run - first == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", {"host": "localhost", "port": 6379, "database": 0}),
        ("redis://cache:6380/3", {"host": "cache", "port": 6380, "database": 3}),
        ("redis://cache/3?db=5", {"database": 5}),
        ("rediss://u%40x:p%2Fw@cache:6390/1", {"ssl": True, "username": "u@x", "password": "p/w"}),
        ("unix:///run/redis.sock", {"unix_socket_path": "/run/redis.sock", "database": 0}),
        ("unix:///run/redis.sock?db=2", {"unix_socket_path": "/run/redis.sock", "database": 2}),
    ],
)
def test_redis_settings_from_url(url: str, expected: dict[str, object]) -> None:
    # given a Redis URL / when it is read
    settings = redis_settings_from_url(url)

    # then arq gets the connection it names
    assert isinstance(settings, RedisSettings)
    assert {key: getattr(settings, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://localhost", "not http://"),
        ("unix://", "needs a socket path"),
        ("localhost:6379", "not localhost://"),
    ],
)
def test_redis_settings_from_url_refuses_other_urls(url: str, said: str) -> None:
    # given a URL that names no Redis / when it is read / then it is refused, saying why
    with pytest.raises(ValueError, match=said):
        redis_settings_from_url(url)
