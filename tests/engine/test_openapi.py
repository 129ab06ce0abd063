"""The OpenAPI document of the REST endpoints (engine/openapi.py): served publicly, and
naming exactly the REST routes the app has. tests/fuzz/rest.py runs schemathesis with it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import schemathesis
from starlette.routing import Route

from core.settings import Settings
from engine.app import create_app
from engine.openapi import PATH, openapi_document

NOT_REST = {"/graphql", "/"}  # GraphQL has its own schema; "/" redirects to the console


@pytest.fixture
async def http(db: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings, init_orm=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_the_document_is_served_without_a_credential(http: httpx.AsyncClient) -> None:
    answer = await http.get(PATH)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document["openapi"] == "3.1.0"
    assert document == openapi_document()


def test_every_rest_route_of_the_app_is_documented_with_its_methods(settings: Settings) -> None:
    app = create_app(settings, init_orm=False)
    routes = {
        route.path: {m.lower() for m in route.methods or ()} - {"head"}
        for route in app.routes
        if isinstance(route, Route) and route.path not in NOT_REST
    }
    documented = {path: set(item) for path, item in openapi_document()["paths"].items()}

    assert documented == {path: routes[path] for path in documented}
    assert set(routes) - set(documented) == {"/metrics"}  # Prometheus text, for scrapers


def test_schemathesis_reads_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())

    operations = {
        f"{result.ok().method.upper()} {result.ok().path}" for result in schema.get_all_operations()
    }
    assert operations == {
        "POST /api/v1/redemptions/{redemption_id}/callback",
        "POST /api/v2/point-accounts/balances",
        "POST /api/v2/point-accounts/transactions",
        "GET /api/v2/point-accounts/balances/status/{batch_id}",
        "GET /api/v2/point-accounts/transactions/status/{batch_id}",
        "GET /api/openapi.json",
        "GET /health",
        "GET /ready",
    }
