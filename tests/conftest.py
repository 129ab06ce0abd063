"""Test wiring: a migrated database, an invariant check after every test, clean tables,
and a Redis for the tests that run arq workers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate

from core import cache, clock
from core.settings import Settings, load_settings, tortoise_config
from engine.embedded import EmbeddedRedis
from tests import dbsetup
from tests.graphql_client import GraphQLClient, TenantSession, in_process, open_tenant


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    os.environ["GAMIFY_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    os.environ["GAMIFY_SECRET_KEY"] = "test-secret-key-" + "x" * 32
    return load_settings()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    url = await dbsetup.create_database(tmp_path_factory.mktemp("db"))
    yield url
    await dbsetup.drop_database(url)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """GAMIFY_TEST_REDIS_URL, else an embedded Redis of the test session's own."""
    url = os.environ.get("GAMIFY_TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis.url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[str]:
    """The schema is built by the migrations, as in production."""
    config = tortoise_config(database_url, pool_size=20)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    yield database_url
    await Tortoise.close_connections()


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """argon2's production cost (~0.15 s a hash) would dominate a suite that creates
    hundreds of tenants; tests verify the same algorithm with the cheapest parameters."""
    from argon2 import PasswordHasher

    from core import security

    production = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    yield
    security._hasher = production


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture(autouse=True)
async def clean_db(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if "db" not in request.fixturenames:
        yield
        return
    yield
    await assert_ledger_matches_balances()
    if request.node.get_closest_marker("module_world") is None:
        await delete_all_rows()


async def delete_all_rows() -> None:
    conn = connections.get("default")
    # DELETE, children first: on small tables it is far cheaper than TRUNCATE on PostgreSQL.
    for table in dbsetup.TABLES:
        await conn.execute_script(f'DELETE FROM "{table}"')


async def assert_ledger_matches_balances() -> None:
    """Invariant 2: every account's cached balance equals the sum of its ledger entries."""
    conn = connections.get("default")
    _, rows = await conn.execute_query(
        "SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0) AS total "
        "FROM point_account a LEFT JOIN ledger_entry e ON e.account_id = a.id "
        "GROUP BY a.id, a.balance"
    )
    mismatched = [dict(r) for r in rows if int(r["balance"]) != int(r["total"])]
    assert not mismatched, f"balance != sum(ledger) for {mismatched}"
    _, negative = await conn.execute_query(
        "SELECT id FROM point_account WHERE balance < 0 UNION ALL "
        "SELECT id FROM reward WHERE stock < 0"
    )
    assert not negative


@pytest.fixture
async def gql(db: str, settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The engine's ASGI app in this process, and a GraphQL client on it."""
    async with in_process(settings) as client:
        yield client


@pytest.fixture
async def tenant(gql: GraphQLClient) -> TenantSession:
    return await open_tenant(gql)


@pytest.fixture
async def other_tenant(gql: GraphQLClient) -> TenantSession:
    return await open_tenant(gql)


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.data_dir


@pytest.fixture
def following() -> Iterator[None]:
    """This process follows the invalidations, as an API process with Redis does
    (engine.credential_watch): its caches serve."""
    cache.follow(True)
    yield
    cache.follow(False)
