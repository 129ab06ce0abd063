"""Browser pages on a shop's own domain: CORS preflights and answers, and member tokens held
to the origins their tenant allows."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from engine.app import create_app
from models.tenancy.origins import set_tenant_origins
from tests.factories import make_reward
from tests.graphql_client import GraphQLClient, TenantSession

SHOP = "https://shop.example"
OTHER_SHOP = "https://other-shop.example"
DEPLOYMENT_WIDE = "https://console.example"
ME = "{ me { externalUserId } }"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.fixture
async def http(db: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        dataclasses.replace(settings, allowed_origins=[DEPLOYMENT_WIDE]), init_orm=False
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test") as client:
        yield client


async def member_token(gql: GraphQLClient, tenant: TenantSession) -> str:
    """A token for the tenant's member `ann`."""
    await gql(
        'mutation { upsertMember(input: {externalUserId: "ann"}) { errors { code } } }',
        token=tenant.api_key,
    )
    body = await gql(
        'mutation { createMemberToken(externalUserId: "ann") { token } }',
        token=tenant.api_key,
    )
    token: str = body["data"]["createMemberToken"]["token"]
    return token


async def post_from(
    http: httpx.AsyncClient, origin: str | None, token: str, query: str = ME
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if origin is not None:
        headers["Origin"] = origin
    return await http.post("/graphql", json={"query": query}, headers=headers)


def top_codes(response: httpx.Response) -> list[str]:
    body: dict[str, Any] = response.json()
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_preflight_from_a_tenants_origin_is_answered(
    http: httpx.AsyncClient, tenant: TenantSession
) -> None:
    # given a tenant that lists its shop's origin
    await set_tenant_origins(tenant.tenant_id, [SHOP])  # type: ignore[arg-type]
    # when the shop's page asks whether it may POST with an Authorization header
    response = await http.options("/graphql", headers={"Origin": SHOP, **PREFLIGHT})
    # then the browser is told yes, for that origin, with the headers it needs
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("path", ["/graphql", "/api/v1/redemptions/x/callback"])
async def test_preflight_from_an_unknown_origin_is_refused(
    http: httpx.AsyncClient, tenant: TenantSession, path: str
) -> None:
    # given a tenant whose list does not name the page's origin
    await set_tenant_origins(tenant.tenant_id, [SHOP])  # type: ignore[arg-type]
    # when a page on another origin sends a preflight
    response = await http.options(path, headers={"Origin": "https://evil.example", **PREFLIGHT})
    # then it is refused, and nothing tells the browser it may go on
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_deployment_wide_origin_is_allowed_without_any_tenant_list(
    http: httpx.AsyncClient,
) -> None:
    # when a page on an origin of GAMIFY_ALLOWED_ORIGINS sends a preflight
    response = await http.options("/graphql", headers={"Origin": DEPLOYMENT_WIDE, **PREFLIGHT})
    # then it is answered
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == DEPLOYMENT_WIDE


async def test_member_token_works_from_its_tenants_origin(
    http: httpx.AsyncClient, gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member token of a tenant that lists the shop
    await set_tenant_origins(tenant.tenant_id, [SHOP])  # type: ignore[arg-type]
    token = await member_token(gql, tenant)
    # when the shop's page calls the API with it
    response = await post_from(http, SHOP, token)
    # then it answers, and the browser may read the answer
    assert response.json() == {"data": {"me": {"externalUserId": "ann"}}}
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "Retry-After" in response.headers["access-control-expose-headers"]


async def test_member_token_is_refused_from_another_tenants_origin(
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    tenant: TenantSession,
    other_tenant: TenantSession,
) -> None:
    # given tenant A lists its shop and tenant B lists another shop
    await set_tenant_origins(tenant.tenant_id, [SHOP])  # type: ignore[arg-type]
    await set_tenant_origins(other_tenant.tenant_id, [OTHER_SHOP])  # type: ignore[arg-type]
    token = await member_token(gql, tenant)
    # when B's shop page uses A's member token (the preflight passes: B lists the origin)
    preflight = await http.options("/graphql", headers={"Origin": OTHER_SHOP, **PREFLIGHT})
    response = await post_from(http, OTHER_SHOP, token)
    # then the request itself is refused with a code, and reveals nothing of A
    assert preflight.status_code == 204
    assert top_codes(response) == ["ORIGIN_NOT_ALLOWED"]
    assert response.json()["data"] == {"me": None}


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(None, id="no-origin-server-to-server"),
        pytest.param("http://engine.test", id="the-engines-own-origin"),
        pytest.param(DEPLOYMENT_WIDE, id="deployment-wide"),
    ],
)
async def test_member_token_needs_no_tenant_list_where_no_page_of_another_site_asks(
    http: httpx.AsyncClient, gql: GraphQLClient, tenant: TenantSession, origin: str | None
) -> None:
    # given a tenant with no allowed origins
    token = await member_token(gql, tenant)
    # when the token is used without an Origin, from the engine's own pages, or from an
    # origin the deployment allows
    response = await post_from(http, origin, token)
    # then it works
    assert response.json() == {"data": {"me": {"externalUserId": "ann"}}}


async def test_admin_sets_allowed_origins_normalised_and_validated(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given an admin
    mutation = (
        "mutation($o: [String!]!) { setAllowedOrigins(origins: $o) "
        "{ origins errors { field code message } } }"
    )
    # when it saves origins as people type them
    saved = await gql(
        mutation,
        {"o": ["HTTPS://Shop.Example:443/", "http://127.0.0.1:8001", "https://shop.example"]},
        tenant.admin_token,
    )
    # and then a list with a page URL in it
    refused = await gql(
        mutation, {"o": ["https://ok.example", "https://shop.example/rewards"]}, tenant.admin_token
    )
    listed = await gql("{ allowedOrigins }", token=tenant.admin_token)
    # then the first is stored as browsers send origins, without duplicates
    assert saved["data"]["setAllowedOrigins"] == {
        "origins": ["http://127.0.0.1:8001", "https://shop.example"],
        "errors": [],
    }
    # and the second is refused as a whole, naming the entry, and changes nothing
    errors = refused["data"]["setAllowedOrigins"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("origins.1", "INVALID_ORIGIN")]
    assert "https://shop.example/rewards" in errors[0]["message"]
    assert listed["data"]["allowedOrigins"] == ["http://127.0.0.1:8001", "https://shop.example"]


async def test_only_an_admin_manages_origins(gql: GraphQLClient, tenant: TenantSession) -> None:
    # when the tenant's backend (API key) tries to change the list
    body = await gql(
        'mutation { setAllowedOrigins(origins: ["https://x.example"]) { origins } }',
        token=tenant.api_key,
    )
    # then it is a top-level FORBIDDEN
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# ------------------------------------------------------------------ who sees what

REWARD_VIEW = "query($r: ID!) { reward(id: $r) { name publicData fulfillmentData } }"


async def test_member_sees_public_data_but_not_the_tenants_fulfilment_data(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward with a partner secret for the fulfilment backend and public terms
    reward = await make_reward(
        tenant.tenant_id,  # type: ignore[arg-type]
        name="Coffee",
        fulfillment_data={"partnerApiKey": "pk_live_secret"},
        public_data={"terms": "One per visit"},
    )
    token = await member_token(gql, tenant)
    # when the member reads the reward and the catalog, and the admin reads the reward
    by_member = await gql(REWARD_VIEW, {"r": str(reward.id)}, token)
    catalog = await gql(
        "{ catalog { nodes { reward { publicData fulfillmentData } } } }", token=token
    )
    by_admin = await gql(REWARD_VIEW, {"r": str(reward.id)}, tenant.admin_token)
    # then the member sees the terms only; the admin sees both
    assert by_member["data"]["reward"] == {
        "name": "Coffee",
        "publicData": {"terms": "One per visit"},
        "fulfillmentData": None,
    }
    assert catalog["data"]["catalog"]["nodes"] == [
        {"reward": {"publicData": {"terms": "One per visit"}, "fulfillmentData": None}}
    ]
    assert by_admin["data"]["reward"]["fulfillmentData"] == {"partnerApiKey": "pk_live_secret"}
    assert "pk_live_secret" not in str(by_member) + str(catalog)


REDEMPTION_VIEW = """
query($id: ID!) { redemption(id: $id) {
  status fulfillmentData events { kind data } } }"""


async def test_member_sees_its_code_once_fulfilled_and_never_the_webhook_traffic(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member's redemption, postponed by the backend with internal data
    reward = await make_reward(
        tenant.tenant_id,  # type: ignore[arg-type]
        point_cost=10,
        fulfillment_data={"partnerApiKey": "pk_live_secret"},
    )
    token = await member_token(gql, tenant)
    await gql(
        'mutation { awardPoints(input: {externalUserId: "ann", amount: 50}) { errors { code } } }',
        token=tenant.api_key,
    )
    redeemed = await gql(
        "mutation($r: ID!) { redeemReward(rewardId: $r) { redemption { id } errors { code } } }",
        {"r": str(reward.id)},
        token,
    )
    redemption_id = redeemed["data"]["redeemReward"]["redemption"]["id"]
    complete = (
        "mutation($id: ID!, $s: CompletionStatus!, $d: JSON) { completeRedemption("
        "id: $id, status: $s, data: $d) { errors { code } } }"
    )
    await gql(
        complete,
        {"id": redemption_id, "s": "POSTPONED", "d": {"code": "VC-1", "batch": "internal-7"}},
        tenant.api_key,
    )
    # when the member looks while it is postponed, and after the backend fulfils it
    postponed = await gql(REDEMPTION_VIEW, {"id": redemption_id}, token)
    await gql(complete, {"id": redemption_id, "s": "FULFILLED", "d": None}, tenant.api_key)
    fulfilled = await gql(REDEMPTION_VIEW, {"id": redemption_id}, token)
    by_backend = await gql(REDEMPTION_VIEW, {"id": redemption_id}, tenant.api_key)
    # then the code shows only once FULFILLED
    assert postponed["data"]["redemption"]["fulfillmentData"] is None
    assert fulfilled["data"]["redemption"]["status"] == "FULFILLED"
    assert fulfilled["data"]["redemption"]["fulfillmentData"] == {
        "code": "VC-1",
        "batch": "internal-7",
    }
    # and the timeline shows the member its points moving, nothing of the tenant's traffic
    member_data = {e["kind"]: e["data"] for e in fulfilled["data"]["redemption"]["events"]}
    assert member_data["POINTS_WITHDRAWN"] is not None
    assert {k: v for k, v in member_data.items() if k != "POINTS_WITHDRAWN"} == {
        k: None for k in member_data if k != "POINTS_WITHDRAWN"
    }
    backend_data = [e["data"] for e in by_backend["data"]["redemption"]["events"]]
    assert any(d and "internal-7" in str(d) for d in backend_data)


# ------------------------------------------------------------------ static files


async def test_widget_files_are_public_and_cached(http: httpx.AsyncClient) -> None:
    # when a shop's page loads the widget module (browsers fetch module scripts with CORS)
    response = await http.get("/widget/gamify-widget.js", headers={"Origin": SHOP})
    again = await http.get(
        "/widget/gamify-widget.js", headers={"If-None-Match": response.headers["etag"]}
    )
    # then any origin may load it, it is cached, and revalidation costs no body
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["access-control-allow-origin"] == "*"
    assert "max-age=86400" in response.headers["cache-control"]
    assert again.status_code == 304


async def test_root_opens_the_console(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/admin/"
