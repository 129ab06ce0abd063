"""Rate limits counted in Redis, shared by every API process: failed logins per account and
per client address, and requests per address and per credential."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import redis.asyncio as redis
from argon2 import PasswordHasher

from core import security
from core.rate_limit import PREFIX
from core.settings import Settings
from engine.embedded import EmbeddedRedis
from models.tenancy.access import create_api_key
from tests.factories import PASSWORD, make_tenant
from tests.graphql_client import GraphQLClient
from tests.live.conftest import LOGIN, serving

TIERS = "{ tiers { id } }"


@pytest.fixture(autouse=True)
async def fresh_counters(redis_url: str) -> AsyncIterator[None]:
    """Every test counts from zero, and leaves no count (they all come from 127.0.0.1)."""
    client = redis.from_url(redis_url)

    async def clear() -> None:
        keys = [key async for key in client.scan_iter(f"{PREFIX}*")]
        if keys:
            await client.delete(*keys)

    await clear()
    yield
    await clear()
    await client.aclose()


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": LOGIN, "variables": {"e": email, "p": password}}
    )


def _code(response: httpx.Response) -> Any:
    body = response.json()
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    payload = body["data"]["login"]
    return "OK" if payload["token"] else "INVALID_CREDENTIALS"


# ------------------------------------------------------------------------------ login


async def test_an_account_is_locked_after_failed_logins_even_for_the_right_password(
    db: str, live_settings: Settings
) -> None:
    # given an engine allowing 3 failed logins per account
    settings = dataclasses.replace(live_settings, login_failures_per_account=3)
    async with serving(settings) as server:
        new = await make_tenant()
        email = new.admin.email
        # when someone tries 3 wrong passwords, then the right one
        wrong = [await _login(server.http, email, f"guess-{n}") for n in range(3)]
        right = await _login(server.http, email, PASSWORD)
        # and another admin logs in from the same address meanwhile
        other = await make_tenant()
        elsewhere = await _login(server.http, other.admin.email, PASSWORD)

    # then the wrong ones were told so, and the right one is refused while locked
    assert [_code(r) for r in wrong] == ["INVALID_CREDENTIALS"] * 3
    assert right.status_code == 429
    assert _code(right) == "RATE_LIMITED"
    assert 1 <= int(right.headers["retry-after"]) <= settings.login_window
    assert right.json()["errors"][0]["extensions"]["retryAfter"] == int(
        right.headers["retry-after"]
    )
    # and only that account is locked
    assert _code(elsewhere) == "OK"


async def test_one_address_is_locked_after_failed_logins_on_many_accounts(
    db: str, live_settings: Settings
) -> None:
    # given an engine allowing 3 failed logins per client address
    settings = dataclasses.replace(
        live_settings, login_failures_per_account=0, login_failures_per_address=3
    )
    async with serving(settings) as server:
        new = await make_tenant()
        # when one address guesses at three accounts, then logs in right
        wrong = [await _login(server.http, f"{uuid4().hex}@x.test", "guess") for _ in range(3)]
        right = await _login(server.http, new.admin.email, PASSWORD)

    # then the address is refused, the right password included
    assert [_code(r) for r in wrong] == ["INVALID_CREDENTIALS"] * 3
    assert (right.status_code, _code(right)) == (429, "RATE_LIMITED")


async def test_a_right_login_does_not_count_against_the_address(
    db: str, live_settings: Settings
) -> None:
    # given an engine allowing 2 failed logins per address
    settings = dataclasses.replace(live_settings, login_failures_per_address=2)
    async with serving(settings) as server:
        new = await make_tenant()
        # when an admin logs in right five times, then mistypes once
        rights = [await _login(server.http, new.admin.email, PASSWORD) for _ in range(5)]
        mistyped = await _login(server.http, new.admin.email, "mistyped")
        again = await _login(server.http, new.admin.email, PASSWORD)

    # then nothing was refused: only failures count
    assert [_code(r) for r in rights] == ["OK"] * 5
    assert _code(mistyped) == "INVALID_CREDENTIALS"
    assert _code(again) == "OK"


async def test_failed_logins_on_one_process_lock_the_account_on_another(
    db: str, live_settings: Settings
) -> None:
    # given two API processes allowing 2 failed logins per account
    settings = dataclasses.replace(live_settings, login_failures_per_account=2)
    async with serving(settings) as a, serving(settings) as b:
        new = await make_tenant()
        # when the guesses go to A, and the right password to B
        for n in range(2):
            await _login(a.http, new.admin.email, f"guess-{n}")
        right = await _login(b.http, new.admin.email, PASSWORD)

    # then B refuses it too
    assert (right.status_code, _code(right)) == (429, "RATE_LIMITED")


class _GatedHasher(PasswordHasher):
    """argon2 whose verification waits until the test says the event loop answered."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1)
        self.gate = gate
        self.waited: bool | None = None

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.waited = self.gate.wait(timeout=10)
        return super().verify(hash, password)


@pytest.fixture
def gated_hasher() -> Iterator[_GatedHasher]:
    hasher = _GatedHasher(threading.Event())
    previous, security._hasher = security._hasher, hasher
    yield hasher
    security._hasher = previous


async def test_the_engine_answers_others_while_a_password_is_verified(
    gql: GraphQLClient, gated_hasher: _GatedHasher
) -> None:
    # given a login whose password verification holds until /health has answered
    new = await make_tenant()
    login = _login(gql.http, new.admin.email, PASSWORD)

    async def health_then_open_gate() -> int:
        response = await gql.http.get("/health")
        gated_hasher.gate.set()
        return response.status_code

    # when /health is asked while the login verifies
    logged_in, health = await asyncio.gather(login, health_then_open_gate())

    # then /health answered during the verification (argon2 ran off the event loop)
    assert gated_hasher.waited is True
    assert health == 200
    assert _code(logged_in) == "OK"


# ---------------------------------------------------------------------------- requests


async def test_requests_past_the_address_limit_are_refused_with_rate_limit_headers(
    db: str, live_settings: Settings
) -> None:
    # given an engine allowing 3 requests a minute per address
    settings = dataclasses.replace(
        live_settings, rate_limit_per_address=3, rate_limit_per_credential=0
    )
    async with serving(settings) as server:
        # when one address sends 4 requests to /graphql, then one to the callback, then /health
        answers = [await server.http.post("/graphql", json={"query": TIERS}) for _ in range(4)]
        callback = await server.http.post(
            f"/api/v1/redemptions/{uuid4()}/callback", json={"status": "fulfilled"}
        )
        health = await server.http.get("/health")

    # then the first 3 carry the limit and what remains of it
    assert [r.headers["ratelimit-limit"] for r in answers[:3]] == ["3", "3", "3"]
    assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert all(1 <= int(r.headers["ratelimit-reset"]) <= 60 for r in answers[:3])
    # and the 4th is a 429 with Retry-After and the GraphQL error code
    refused = answers[3]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # and REST is refused in its own error shape
    assert callback.status_code == 429
    assert callback.json()["error"]["code"] == "RATE_LIMITED"
    # and the health probe is not counted
    assert health.status_code == 200


async def test_a_credential_has_its_own_limit_on_every_process(
    db: str, live_settings: Settings
) -> None:
    # given two API processes allowing 2 requests a minute per credential
    settings = dataclasses.replace(
        live_settings, rate_limit_per_address=0, rate_limit_per_credential=2
    )
    async with serving(settings) as a, serving(settings) as b:
        new = await make_tenant()
        token = (await a.gql(LOGIN, {"e": new.admin.email, "p": PASSWORD}))["token"]
        _, other = await create_api_key(new.tenant.id, "backend")
        headers = {"Authorization": f"Bearer {token}"}
        # when the credential sends one request to each process, then a third to A
        first = await a.http.post("/graphql", json={"query": TIERS}, headers=headers)
        second = await b.http.post("/graphql", json={"query": TIERS}, headers=headers)
        third = await a.http.post("/graphql", json={"query": TIERS}, headers=headers)
        # and another credential asks meanwhile
        others = await a.http.post(
            "/graphql", json={"query": TIERS}, headers={"Authorization": f"Bearer {other}"}
        )

    # then the third is refused wherever it goes; the other credential is not
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert json.loads(third.text)["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert others.status_code == 200 and others.headers["ratelimit-remaining"] == "1"


async def test_requests_are_served_while_redis_is_down(
    db: str, live_settings: Settings, tmp_path: Path
) -> None:
    # given an engine with a tight limit, on a Redis of its own
    own = EmbeddedRedis(tmp_path)
    url = await asyncio.to_thread(own.start)
    settings = dataclasses.replace(live_settings, redis_url=url, rate_limit_per_address=100)
    try:
        async with serving(settings) as server:
            counted = await server.http.post("/graphql", json={"query": TIERS})
            # when Redis stops
            await asyncio.to_thread(own.stop)
            uncounted = await server.http.post("/graphql", json={"query": TIERS})
    finally:
        await asyncio.to_thread(own.stop)

    # then requests are still answered, only without counting
    assert counted.headers["ratelimit-remaining"] == "99"
    assert uncounted.status_code == 200 and "ratelimit-limit" not in uncounted.headers
