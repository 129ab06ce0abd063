"""An HTTP client on the real ASGI app (in process), and helpers to call GraphQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core.settings import Settings
from engine.app import create_app
from models.tenancy import create_api_key
from tests.factories import PASSWORD, make_tenant


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def gql(db: str, settings: Settings) -> AsyncIterator[GraphQLClient]:
    app = create_app(settings, init_orm=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http)


@dataclass
class TenantSession:
    tenant_id: str
    admin_token: str
    api_key: str
    admin_email: str


LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }"


async def open_tenant(gql: GraphQLClient, slug: str | None = None) -> TenantSession:
    new = await make_tenant(slug)
    body = await gql(LOGIN, {"e": new.admin.email, "p": PASSWORD})
    token = body["data"]["login"]["token"]
    _, key = await create_api_key(new.tenant.id, "backend")
    return TenantSession(str(new.tenant.id), token, key, new.admin.email)


@pytest.fixture
async def tenant(gql: GraphQLClient) -> TenantSession:
    return await open_tenant(gql)


@pytest.fixture
async def other_tenant(gql: GraphQLClient) -> TenantSession:
    return await open_tenant(gql)
