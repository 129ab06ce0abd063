"""The engine as the point master meets it: the app over HTTP (in process) with a real
job queue on Redis, a real arq worker draining it, and GraphQL helpers.

The queue has a name of its own per test, so no other test's jobs reach this worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID, uuid4

import httpx
from arq.connections import create_pool

from core.queue import ArqQueue
from core.settings import Settings
from engine.app import create_app
from engine.runtime import new_worker, start_worker, stop_worker
from models.tenancy.access import create_api_key
from tests.factories import PASSWORD, make_tenant
from tests.graphql_client import post_graphql
from workers.settings import redis_settings_from_url

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
TOKEN = "mutation($u: String!) { createMemberToken(externalUserId: $u) { token } }"


@dataclass
class Engine:
    http: httpx.AsyncClient

    async def gql(self, query: str, token: str, **variables: Any) -> dict[str, Any]:
        return await post_graphql(self.http, query, variables, token)

    async def data(self, query: str, token: str, **variables: Any) -> dict[str, Any]:
        """The `data` of an answer that must have no top-level error."""
        body = await self.gql(query, token, **variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    async def login(self, email: str) -> str:
        return str((await self.data(LOGIN, "", e=email, p=PASSWORD))["login"]["token"])

    async def member_token(self, api_key: str, external_user_id: str) -> str:
        return str(
            (await self.data(TOKEN, api_key, u=external_user_id))["createMemberToken"]["token"]
        )


@dataclass
class Tenant:
    id: UUID
    slug: str
    admin_email: str
    admin: str  # login token
    api_key: str


async def open_tenant(engine: Engine, slug: str | None = None) -> Tenant:
    new = await make_tenant(slug)
    _, key = await create_api_key(new.tenant.id, "backend")
    token = await engine.login(new.admin.email)
    return Tenant(new.tenant.id, new.tenant.slug, new.admin.email, token, key)


@contextlib.asynccontextmanager
async def running_engine(settings: Settings, redis_url: str) -> AsyncIterator[Engine]:
    """The app and one worker on a queue of this test's own."""
    settings = replace(settings, redis_url=redis_url)
    queue_name = f"test:pointmaster:{uuid4().hex}"
    pool = await create_pool(redis_settings_from_url(redis_url), default_queue_name=queue_name)
    app = create_app(settings, init_orm=False)
    graphql = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    graphql.endpoint.queue.target = ArqQueue(pool)  # type: ignore[attr-defined]
    worker = new_worker(settings, queue_name=queue_name, cron_jobs=[], poll_delay=0.02)
    start_worker(worker)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Engine(http)
    finally:
        await stop_worker(worker)
        left = [job.decode() for job in await pool.zrange(queue_name, 0, -1)]
        if left:
            await pool.delete(*(f"arq:job:{job}" for job in left))
        await pool.delete(queue_name)
        await pool.aclose()
