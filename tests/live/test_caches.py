"""The caches across `gamify serve` processes: a process serves a tenant's facts, its live
rewards and the API keys it was asked with from memory, and an admin's change on another
process (a key revoked included) reaches it within moments."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import clock
from core.security import api_key_digest
from core.settings import Settings
from models.catalog.tables import Reward
from models.members.tables import Tier
from models.tenancy.access import create_api_key
from models.tenancy.tables import ApiKey
from tests import dbsetup
from tests.factories import PASSWORD, make_member, make_reward, make_tenant, make_tier
from tests.graphql_client import graphql_value, post_graphql
from tests.live.conftest import LOGIN, MEMBER_TOKEN
from tests.live.processes import (
    claimed_redis_database,
    engine_environment,
    engine_processes,
    outputs,
)

CATALOG = "{ catalog(first: 5) { nodes { canRedeem reason } } }"
SAVE_TIER = """mutation($id: ID, $name: String!, $rank: Int!) {
  saveTier(input: {id: $id, name: $name, rank: $rank}) { tier { rank } errors { code } }
}"""
TIERS = "{ tiers { id } }"
REWARD_SHOWN = "{ catalog { nodes { reward { name stock } } } }"
RENAME_REWARD = """mutation($id: ID!, $name: String!) {
  updateReward(id: $id, input: {name: $name}) { reward { name } errors { code } }
}"""
REVOKE_KEY = """
mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } errors { code } } }"""
ON_POSTGRES = pytest.mark.skipif(
    not dbsetup.is_postgres(),
    reason="several processes writing one SQLite file collide ('database is locked'); "
    "this runs on PostgreSQL (GAMIFY_TEST_DATABASE_URL)",
)
WITHIN = 5.0  # seconds a change may take to reach another process (it takes milliseconds)


@contextlib.asynccontextmanager
async def _two_processes(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of two `gamify serve` processes (and a worker) on a Redis of their own, once
    both follow the caches' invalidations; their output is printed if the test fails."""
    with claimed_redis_database(redis_url) as own_redis:
        environment = engine_environment(db, own_redis, settings.secret_key, tmp_path / "data")
        async with engine_processes(2, environment) as ((a, b), worker):
            try:
                async with (
                    httpx.AsyncClient(base_url=a.url, timeout=10, trust_env=False) as on_a,
                    httpx.AsyncClient(base_url=b.url, timeout=10, trust_env=False) as on_b,
                ):
                    await asyncio.gather(_following(on_a), _following(on_b))
                    yield on_a, on_b
            except BaseException:
                print(outputs([a, b, worker]))
                raise


async def _following(http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while (await http.get("/ready")).json().get("caches") != "following":  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.05)


async def _codes(http: httpx.AsyncClient, key: str) -> list[str]:
    """The error codes of a request made with `key` (none when it is accepted)."""
    body = await post_graphql(http, TIERS, token=key)
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def _reason(http: httpx.AsyncClient, token: str) -> Any:
    (item,) = (await graphql_value(http, CATALOG, token=token))["nodes"]
    return item["reason"]


@ON_POSTGRES
async def test_a_tier_changed_on_one_process_reaches_the_catalog_of_another(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a member of tier Silver and a reward for Gold and above
    new = await make_tenant()
    silver = await make_tier(new.tenant.id, "Silver", 1)
    gold = await make_tier(new.tenant.id, "Gold", 2)
    member = await make_member(new.tenant.id, points=1000, tier=silver)
    await make_reward(new.tenant.id, point_cost=10, min_tier_id=gold.id)
    _, key = await create_api_key(new.tenant.id, "backend")
    async with _two_processes(db, settings, redis_url, tmp_path) as (on_a, on_b):
        admin = await graphql_value(on_a, LOGIN, {"e": new.admin.email, "p": PASSWORD})
        made = await graphql_value(on_a, MEMBER_TOKEN, {"id": str(member.id)}, key)
        token = made["token"]
        # when process B has read the catalog once
        assert await _reason(on_b, token) == "TIER_REQUIRED"
        # then it serves the tenant's tiers from memory: a row changed behind
        # the engine's back (no broadcast) is not seen...
        await Tier.filter(id=silver.id).update(rank=5)
        assert await _reason(on_b, token) == "TIER_REQUIRED"
        # ...while an admin's change made on process A reaches B
        changed = await graphql_value(
            on_a,
            SAVE_TIER,
            {"id": str(silver.id), "name": "Silver", "rank": 3},
            admin["token"],
        )
        assert changed["tier"] == {"rank": 3}
        started = time.monotonic()
        async with asyncio.timeout(WITHIN):
            while await _reason(on_b, token) is not None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        print(f"the change reached process B in {time.monotonic() - started:.3f} s")


async def _shown(http: httpx.AsyncClient, token: str) -> Any:
    (item,) = (await graphql_value(http, REWARD_SHOWN, token=token))["nodes"]
    return item["reward"]


@ON_POSTGRES
async def test_a_reward_renamed_on_one_process_reaches_the_catalog_of_another(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a reward with a stock, in the catalog of a member
    new = await make_tenant()
    member = await make_member(new.tenant.id, points=1000)
    reward = await make_reward(new.tenant.id, name="Coffee", point_cost=10, stock=5)
    _, key = await create_api_key(new.tenant.id, "backend")
    async with _two_processes(db, settings, redis_url, tmp_path) as (on_a, on_b):
        admin = await graphql_value(on_a, LOGIN, {"e": new.admin.email, "p": PASSWORD})
        token = (await graphql_value(on_a, MEMBER_TOKEN, {"id": str(member.id)}, key))["token"]
        # when process B has read the catalog once
        assert await _shown(on_b, token) == {"name": "Coffee", "stock": 5}
        # then it serves the rewards from memory: a name changed behind the engine's back
        # is not seen, while the stock is read as it is
        await Reward.filter(id=reward.id).update(name="Behind its back", stock=4)
        assert await _shown(on_b, token) == {"name": "Coffee", "stock": 4}
        # ...and an admin's change made on process A reaches B
        renamed = await graphql_value(
            on_a, RENAME_REWARD, {"id": str(reward.id), "name": "Espresso"}, admin["token"]
        )
        assert renamed == {"reward": {"name": "Espresso"}, "errors": []}
        started = time.monotonic()
        async with asyncio.timeout(WITHIN):
            while (await _shown(on_b, token))["name"] != "Espresso":  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        print(f"the change reached process B in {time.monotonic() - started:.3f} s")


@ON_POSTGRES
async def test_an_api_key_revoked_on_one_process_is_refused_by_another_that_cached_it(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a tenant's API key and its admin
    new = await make_tenant()
    _, key = await create_api_key(new.tenant.id, "backend")
    row = await ApiKey.get(digest=api_key_digest(key))
    async with _two_processes(db, settings, redis_url, tmp_path) as (on_a, on_b):
        admin = await graphql_value(on_b, LOGIN, {"e": new.admin.email, "p": PASSWORD})
        # when process A has served a request with the key
        assert await _codes(on_a, key) == []
        # then it serves the key from memory: revoked behind the engine's back
        # (no one announces it), the key still works on A
        await ApiKey.filter(id=row.id).update(revoked_at=clock.now())
        assert await _codes(on_a, key) == []
        await ApiKey.filter(id=row.id).update(revoked_at=None)
        # when the admin revokes the key through process B
        revoked = await graphql_value(on_b, REVOKE_KEY, {"id": str(row.id)}, admin["token"])
        assert revoked["apiKey"]["revokedAt"] is not None
        # then process A refuses it (within moments: it takes milliseconds)
        started = time.monotonic()
        async with asyncio.timeout(WITHIN):
            while await _codes(on_a, key) == []:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.01)
        print(f"the revocation reached process A in {time.monotonic() - started:.3f} s")
        assert await _codes(on_a, key) == ["UNAUTHENTICATED"]
        assert await _codes(on_b, key) == ["UNAUTHENTICATED"]


REDEEM = """mutation($r: ID!, $m: ID) {
  redeemReward(rewardId: $r, memberId: $m) { redemption { status } errors { code } } }"""
ARCHIVE_REWARD = "mutation($id: ID!) { archiveReward(id: $id) { errors { code } } }"


async def _redeemed(http: httpx.AsyncClient, key: str, reward: Reward, member_id: Any) -> Any:
    body = await post_graphql(http, REDEEM, {"r": str(reward.id), "m": str(member_id)}, key)
    done = body["data"]["redeemReward"]
    return done["redemption"]["status"] if done["redemption"] else done["errors"][0]["code"]


@ON_POSTGRES
async def test_a_reward_archived_on_one_process_is_refused_by_another_that_redeems_it_from_memory(
    db: str, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    # given a reward a member has points for
    new = await make_tenant()
    member = await make_member(new.tenant.id, points=1000)
    reward = await make_reward(new.tenant.id, point_cost=10, stock=50)
    _, key = await create_api_key(new.tenant.id, "backend")
    async with _two_processes(db, settings, redis_url, tmp_path) as (on_a, on_b):
        admin = await graphql_value(on_a, LOGIN, {"e": new.admin.email, "p": PASSWORD})
        # when process B has redeemed it once
        assert await _redeemed(on_b, key, reward, member.id) == "REDEEMED"
        # then B redeems it from memory: a reward disabled behind the engine's back (no
        # broadcast) is still redeemed
        await Reward.filter(id=reward.id).update(enabled=False)
        assert await _redeemed(on_b, key, reward, member.id) == "REDEEMED"
        await Reward.filter(id=reward.id).update(enabled=True)
        # ...while an admin archiving it on process A stops B's redemptions within moments
        archived = await graphql_value(on_a, ARCHIVE_REWARD, {"id": str(reward.id)}, admin["token"])
        assert archived == {"errors": []}
        started = time.monotonic()
        async with asyncio.timeout(WITHIN):
            while await _redeemed(on_b, key, reward, member.id) == "REDEEMED":  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        print(f"the change reached process B in {time.monotonic() - started:.3f} s")
        assert await _redeemed(on_b, key, reward, member.id) == "NOT_AVAILABLE"
