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
    routes: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route) and route.path not in NOT_REST:
            routes.setdefault(route.path, set()).update(
                m.lower() for m in route.methods or () if m != "HEAD"
            )
    documented = {path: set(item) for path, item in openapi_document()["paths"].items()}

    assert documented == {path: routes[path] for path in documented}
    # /metrics: Prometheus text, for scrapers; the fallback: 404/405 for the rest of /api/
    assert set(routes) - set(documented) == {"/metrics", "/api/{rest:path}"}


def test_schemathesis_reads_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())

    operations = {
        f"{result.ok().method.upper()} {result.ok().path}" for result in schema.get_all_operations()
    }
    assert operations == {
        "POST /api/v1/redemptions/{redemption_id}/callback",
        "POST /api/v1/events",
        "POST /api/v1/rewards/{reward_id}/codes",
        "GET /api/v1/rewards/{reward_id}/codes",
        "GET /api/v1/reports/{name}.csv",
        "POST /api/v2/point-accounts/balances",
        "POST /api/v2/point-accounts/transactions",
        "GET /api/v2/point-accounts/balances/status/{batch_id}",
        "GET /api/v2/point-accounts/transactions/status/{batch_id}",
        "GET /api/openapi.json",
        "GET /health",
        "GET /ready",
    }


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v2/point-accounts/balances", "POST"),
        ("OPTIONS", "/api/v2/point-accounts/transactions", "POST"),
        ("DELETE", "/api/v1/redemptions/7d4c5f3e-0000-4000-8000-000000000000/callback", "POST"),
        ("POST", "/api/v2/point-accounts/balances/status/x", "GET, HEAD"),
        ("PUT", PATH, "GET, HEAD"),
    ],
)
async def test_a_method_a_rest_path_does_not_take_is_405_naming_those_it_does(
    http: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    answer = await http.request(method, path)

    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_an_unknown_rest_path_is_a_coded_404(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v3/nothing")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
