"""GraphQL over HTTP against the real ASGI app in this process: the client every test
directory uses, and a tenant opened the way its admin and backend would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from core.settings import Settings
from engine.app import create_app
from models.tenancy.access import create_api_key
from tests.factories import PASSWORD, make_tenant


async def post_graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """One operation over HTTP: the whole answer (`data` and any `errors`)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def graphql_value(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> Any:
    """The value of an operation's single root field, which must carry no error at all
    (neither top-level nor in a payload's `errors`)."""
    body = await post_graphql(http, query, variables, token)
    assert "errors" not in body, body
    (value,) = body["data"].values()
    assert not (isinstance(value, dict) and value.get("errors")), value
    return value


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        return await post_graphql(self.http, query, variables, token)


@dataclass
class TenantSession:
    tenant_id: str
    admin_token: str
    api_key: str
    admin_email: str


LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }"


@contextlib.asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The engine's ASGI app for `settings`, in this process, and a client on it."""
    app = create_app(settings, init_orm=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http)


async def open_tenant(gql: GraphQLClient, slug: str | None = None) -> TenantSession:
    new = await make_tenant(slug)
    body = await gql(LOGIN, {"e": new.admin.email, "p": PASSWORD})
    token = body["data"]["login"]["token"]
    _, key = await create_api_key(new.tenant.id, "backend")
    return TenantSession(str(new.tenant.id), token, key, new.admin.email)
