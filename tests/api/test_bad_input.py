"""Bad client input gets a 4xx or a coded error, never a server error, on both backends:
malformed bodies, text the database cannot store, values too long or too large, odd
tokens, oversized bodies and queries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from core.errors import InvalidInput
from core.security import issue_token
from core.settings import Settings
from models.pointmaster.tables import SyncBatch
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionStatus
from tests.api.test_protections import app_client
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession

Body = dict[str, Any]

NESTED_1000 = b"[" * 1000 + b"]" * 1000
CALLBACK = "/api/v1/redemptions/{}/callback"
BALANCES = "/api/v2/point-accounts/balances"
TRANSACTIONS = "/api/v2/point-accounts/transactions"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _post_json(
    http: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    """JSON with \\u escapes, as clients send it: httpx's own encoding writes a lone
    surrogate as raw UTF-8, which Python cannot encode at all."""
    return await http.post(
        url,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )


def _codes(body: Body) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def _fields(body: Body) -> list[str | None]:
    return [e.get("extensions", {}).get("field") for e in body.get("errors", [])]


async def _redemption(tenant: TenantSession) -> UUID:
    tenant_id = UUID(tenant.tenant_id)
    member = await make_member(tenant_id, points=100)
    reward = await make_reward(tenant_id, point_cost=100)
    return (await redeem(RedeemRequest(tenant_id, member.id, reward.id))).id


# ------------------------------------------------------------------ malformed bodies

GRAPHQL_BODIES = {
    "a JSON string": (b'"{ __typename }"', "INVALID_REQUEST"),
    "null": (b"null", "INVALID_REQUEST"),
    "a list": (b'[{"query": "{ __typename }"}]', "INVALID_REQUEST"),
    "invalid UTF-8": (b'{"query": "{ __typename }", "operationName": "\xff"}', "INVALID_UTF8"),
    "JSON nested 1,000 deep": (
        b'{"query": "{ __typename }", "variables": {"v": ' + NESTED_1000 + b"}}",
        "TOO_DEEP",
    ),
    "NaN": (b'{"query": "{ __typename }", "variables": {"v": NaN}}', "INVALID_NUMBER"),
    "1e999": (b'{"query": "{ __typename }", "variables": {"v": 1e999}}', "INVALID_NUMBER"),
}


@pytest.mark.parametrize("body, code", GRAPHQL_BODIES.values(), ids=GRAPHQL_BODIES.keys())
async def test_graphql_refuses_a_malformed_body_with_a_code(
    gql: GraphQLClient, body: bytes, code: str
) -> None:
    # when
    response = await gql.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    # then
    assert response.status_code == 400, response.text
    assert _codes(response.json()) == [code]


async def test_graphql_get_refuses_variables_nested_1000_deep(gql: GraphQLClient) -> None:
    # when
    response = await gql.http.get(
        "/graphql", params={"query": "{ __typename }", "variables": NESTED_1000.decode()}
    )
    # then
    assert response.status_code == 400
    assert _codes(response.json()) == ["TOO_DEEP"]


REST_BODIES = {
    "invalid UTF-8": (b'{"status": "fulfilled", "reason": "\xff"}', "INVALID_UTF8"),
    "JSON nested 1,000 deep": (
        b'{"status": "fulfilled", "data": ' + NESTED_1000 + b"}",
        "TOO_DEEP",
    ),
    "NaN": (b'{"status": "fulfilled", "data": {"n": NaN}}', "INVALID_NUMBER"),
    "Infinity": (b'{"status": "fulfilled", "data": {"n": -Infinity}}', "INVALID_NUMBER"),
    "1e999": (b'{"status": "fulfilled", "data": {"n": 1e999}}', "INVALID_NUMBER"),
    "a JSON string": (b'"fulfilled"', "INVALID_JSON"),
    "null": (b"null", "INVALID_JSON"),
}


@pytest.mark.parametrize("body, code", REST_BODIES.values(), ids=REST_BODIES.keys())
async def test_callback_refuses_a_malformed_body_with_a_code(
    gql: GraphQLClient, tenant: TenantSession, body: bytes, code: str
) -> None:
    # given
    redemption_id = await _redemption(tenant)
    # when
    response = await gql.http.post(
        CALLBACK.format(redemption_id), content=body, headers=_bearer(tenant.api_key)
    )
    # then
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert (await Redemption.get(id=redemption_id)).status == "REDEEMED"


UPLOAD_BODIES = {
    "invalid UTF-8": (b'[{"contactId": "\xff"}]', "INVALID_UTF8"),
    "JSON nested 1,000 deep": (NESTED_1000, "TOO_DEEP"),
    "NaN": (b'[{"contactId": "a", "amount": NaN}]', "INVALID_NUMBER"),
    "1e999": (b'[{"contactId": "a", "amount": 1e999}]', "INVALID_NUMBER"),
}


@pytest.mark.parametrize("path", [BALANCES, TRANSACTIONS])
@pytest.mark.parametrize("body, code", UPLOAD_BODIES.values(), ids=UPLOAD_BODIES.keys())
async def test_uploads_refuse_a_malformed_body_with_a_code(
    gql: GraphQLClient, tenant: TenantSession, path: str, body: bytes, code: str
) -> None:
    # when
    response = await gql.http.post(path, content=body, headers=_bearer(tenant.api_key))
    # then
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert await SyncBatch.filter(tenant_id=tenant.tenant_id).count() == 0


# ------------------------------------------------------------- text that cannot be stored

UNSTORABLE = {"NUL": "a\u0000b", "a lone surrogate": "a\ud800b"}

# (operation, variables with the bad text at {bad}, the field the error names, credential)
TEXT_ARGUMENTS: dict[str, tuple[str, Body, str, str]] = {
    "login": (
        'mutation($e: String!) { login(email: $e, password: "secret-password") { token } }',
        {"e": "{bad}"},
        "e",
        "none",
    ),
    "upsertMember": (
        "mutation($i: MemberInput!) { upsertMember(input: $i) { member { id } } }",
        {"i": {"externalUserId": "shop-1", "name": "{bad}"}},
        "i.name",
        "api_key",
    ),
    "createReward": (
        "mutation($i: RewardInput!) { createReward(input: $i) { reward { id } } }",
        {"i": {"name": "Mug", "type": "GIFT", "pointCost": 10, "description": "{bad}"}},
        "i.description",
        "admin",
    ),
    "awardPoints": (
        "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { entry { id } } }",
        {"i": {"externalUserId": "shop-1", "amount": 5, "description": "{bad}"}},
        "i.description",
        "api_key",
    ),
    "redeemReward": (
        'mutation($k: String) { redeemReward(rewardId: "x", externalUserId: "shop-1",'
        " idempotencyKey: $k) { redemption { id } } }",
        {"k": "{bad}"},
        "k",
        "api_key",
    ),
    "createWebhookEndpoint": (
        "mutation($i: WebhookEndpointInput!) { createWebhookEndpoint(input: $i) {"
        " endpoint { id } } }",
        {"i": {"url": "https://example.com/{bad}"}},
        "i.url",
        "admin",
    ),
    "createApiKey": (
        "mutation($n: String!) { createApiKey(name: $n) { key } }",
        {"n": "{bad}"},
        "n",
        "admin",
    ),
    "adjustPoints": (
        "mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { adjustment { id } } }",
        {"i": {"externalUserId": "shop-1", "amount": 5, "reason": "{bad}"}},
        "i.reason",
        "api_key",
    ),
    "completeRedemption data": (
        'mutation($d: JSON) { completeRedemption(id: "x", status: FULFILLED, data: $d) {'
        " redemption { id } } }",
        {"d": {"codes": ["ok", "{bad}"]}},
        "d.codes[1]",
        "api_key",
    ),
    "uploadPointBalances": (
        "mutation($items: [PointBalanceInput!]!) { uploadPointBalances(items: $items) {"
        " batch { id } } }",
        {
            "items": [
                {
                    "contactId": "{bad}",
                    "amount": 1,
                    "definitionId": 1,
                    "timeStamp": "2026-01-01T00:00:00Z",
                }
            ]
        },
        "items[0].contactId",
        "api_key",
    ),
}


def _with_bad(value: Any, bad: str) -> Any:
    if isinstance(value, str):
        return value.replace("{bad}", bad)
    if isinstance(value, dict):
        return {k: _with_bad(v, bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_bad(v, bad) for v in value]
    return value


def _credential(tenant: TenantSession, kind: str) -> str | None:
    return {"admin": tenant.admin_token, "api_key": tenant.api_key}.get(kind)


@pytest.mark.parametrize("bad", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize(
    "operation, variables, field, credential", TEXT_ARGUMENTS.values(), ids=TEXT_ARGUMENTS.keys()
)
async def test_unstorable_text_in_a_variable_is_a_coded_error_naming_it(
    gql: GraphQLClient,
    tenant: TenantSession,
    operation: str,
    variables: Body,
    field: str,
    credential: str,
    bad: str,
) -> None:
    # when
    token = _credential(tenant, credential)
    response = await _post_json(
        gql.http,
        "/graphql",
        {"query": operation, "variables": _with_bad(variables, bad)},
        _bearer(token) if token else {},
    )
    body = response.json()
    # then
    assert body["data"] is None
    assert _codes(body) == ["INVALID_STRING"]
    assert _fields(body) == [field]


@pytest.mark.parametrize("escape", ["\\u0000", "\\uD800"], ids=["NUL", "lone surrogate"])
async def test_unstorable_text_in_a_literal_is_a_coded_error_naming_the_argument(
    gql: GraphQLClient, tenant: TenantSession, escape: str
) -> None:
    # given: the escapes are the GraphQL document's own, decoded by its parser
    operation = (
        'mutation { upsertMember(input: {externalUserId: "shop-1", name: "a' + escape + '"}) {'
        " member { id } } }"
    )
    # when
    body = await gql(operation, token=tenant.api_key)
    # then
    assert body["data"] is None
    if escape == "\\uD800":  # graphql-core's lexer refuses it itself, as a syntax error
        assert "Invalid Unicode escape" in body["errors"][0]["message"]
        return
    assert _codes(body) == ["INVALID_STRING"]
    assert _fields(body) == ["input.name"]
    assert (await gql("{ members { nodes { id } } }", token=tenant.api_key))["data"] == {
        "members": {"nodes": []}
    }


async def test_login_with_a_nul_is_a_coded_error_before_authentication(
    gql: GraphQLClient,
) -> None:
    # when: no credential at all
    body = await gql('mutation { login(email: "admin\\u0000@x.test", password: "p") { token } }')
    # then
    assert _codes(body) == ["INVALID_STRING"]
    assert _fields(body) == ["email"]


@pytest.mark.parametrize("bad", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize("name", ["data", "reason"])
async def test_callback_refuses_unstorable_text_naming_the_field(
    gql: GraphQLClient, tenant: TenantSession, bad: str, name: str
) -> None:
    # given
    redemption_id = await _redemption(tenant)
    body: Body = {"status": "failed", "reason": "out of stock", "data": {"note": "x"}}
    body[name] = {"note": bad} if name == "data" else bad
    # when
    response = await _post_json(
        gql.http, CALLBACK.format(redemption_id), body, _bearer(tenant.api_key)
    )
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_STRING"
    assert error["field"] == ("data.note" if name == "data" else "reason")
    assert (await Redemption.get(id=redemption_id)).status == "REDEEMED"


@pytest.mark.parametrize("bad", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize("name", ["contactId", "description"])
async def test_uploads_refuse_unstorable_text_naming_the_item_field(
    gql: GraphQLClient, tenant: TenantSession, bad: str, name: str
) -> None:
    # given
    item: Body = {
        "contactId": "shop-1",
        "amount": 5,
        "definitionId": 1,
        "timeStamp": "2026-01-01T00:00:00Z",
        "description": "order",
    }
    item[name] = bad
    # when
    response = await _post_json(gql.http, TRANSACTIONS, [item, item], _bearer(tenant.api_key))
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) in {
        ("INVALID_STRING", f"[0].{name}"),
        ("INVALID_STRING", f"[1].{name}"),
    }
    assert await SyncBatch.filter(tenant_id=tenant.tenant_id).count() == 0


@pytest.mark.parametrize("bad", UNSTORABLE.values(), ids=UNSTORABLE.keys())
async def test_a_providers_answer_with_unstorable_text_is_refused_before_the_database(
    tenant: TenantSession, bad: str
) -> None:
    # given a redemption, and a webhook answer that reaches the lifecycle without the API
    redemption_id = await _redemption(tenant)
    # when
    with pytest.raises(InvalidInput) as refused:
        await transition(
            UUID(tenant.tenant_id),
            redemption_id,
            RedemptionStatus.FULFILLED,
            Via.PROVIDER,
            actor="system:webhook-response",
            data={"code": bad},
        )
    # then
    assert (refused.value.code, refused.value.field) == ("INVALID_STRING", "data.code")
    stored = await Redemption.get(id=redemption_id)
    assert stored.status == "REDEEMED" and stored.fulfillment_data is None


# ------------------------------------------------------------------------ types and sizes


async def test_callback_reason_must_be_a_string(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given
    redemption_id = await _redemption(tenant)
    # when
    response = await gql.http.post(
        CALLBACK.format(redemption_id),
        json={"status": "failed", "reason": {"why": ["not", "a", "string"]}},
        headers=_bearer(tenant.api_key),
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "reason"
    stored = await Redemption.get(id=redemption_id)
    assert stored.status == "REDEEMED" and stored.reason is None


async def test_callback_refuses_fulfilment_data_over_its_limit(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given
    redemption_id = await _redemption(tenant)
    # when: 100 KB of data, well under the body limit
    response = await gql.http.post(
        CALLBACK.format(redemption_id),
        json={"status": "fulfilled", "data": {"code": "x" * 100_000}},
        headers=_bearer(tenant.api_key),
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"] | {"message": None} == {
        "code": "TOO_LONG",
        "field": "data",
        "message": None,
    }
    stored = await Redemption.get(id=redemption_id)
    assert stored.status == "REDEEMED" and stored.fulfillment_data is None


async def test_bodies_over_the_limit_are_refused_with_413(
    settings: Settings, db: str, tenant: TenantSession
) -> None:
    # given an engine taking bodies of at most 10 KB
    async with app_client(settings, max_body_bytes=10_000, max_upload_bytes=20_000) as small:
        big = "x" * 30_000
        # when
        graphql = await small.http.post(
            "/graphql",
            json={"query": "query($v: String) { __typename }", "variables": {"v": big}},
        )
        callback = await small.http.post(
            CALLBACK.format(uuid4()),
            json={"status": "fulfilled", "reason": big},
            headers=_bearer(tenant.api_key),
        )
        upload = await small.http.post(
            BALANCES, json=[{"contactId": big}], headers=_bearer(tenant.api_key)
        )
        streamed = await small.http.post(
            "/graphql",
            content=_chunks(30, b"x" * 1000),  # no Content-Length: chunked
            headers={"Content-Type": "application/json"},
        )
        fits = await small.http.post("/graphql", json={"query": "{ __typename }"})
    # then
    assert graphql.status_code == 413 and _codes(graphql.json()) == ["BODY_TOO_LARGE"]
    assert callback.status_code == 413
    assert callback.json()["error"]["code"] == "BODY_TOO_LARGE"
    assert upload.status_code == 413 and upload.json()["error"]["code"] == "BODY_TOO_LARGE"
    assert streamed.status_code == 413
    assert fits.status_code == 200


async def _chunks(count: int, chunk: bytes) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield chunk


LENGTH_LIMITED: dict[str, tuple[str, Body, str, str]] = {
    "member name": (
        "mutation($i: MemberInput!) { upsertMember(input: $i) { errors { field code } } }",
        {"i": {"externalUserId": "shop-1", "name": "{long}"}},
        "name",
        "api_key",
    ),
    "member email": (
        "mutation($i: MemberInput!) { upsertMember(input: $i) { errors { field code } } }",
        {"i": {"externalUserId": "shop-1", "email": "a@{long}"}},
        "email",
        "api_key",
    ),
    "API key name": (
        "mutation($n: String!) { createApiKey(name: $n) { errors { field code } } }",
        {"n": "{long}"},
        "name",
        "admin",
    ),
    "tier name": (
        "mutation($n: String!) { saveTier(input: {name: $n, rank: 1}) { errors { field code } } }",
        {"n": "{long}"},
        "name",
        "admin",
    ),
    "currency name": (
        "mutation($n: String!) { savePointDefinition(input: {name: $n}) {"
        " errors { field code } } }",
        {"n": "{long}"},
        "name",
        "admin",
    ),
    "award description": (
        "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { errors { field code } } }",
        {"i": {"externalUserId": "{member}", "amount": 5, "description": "{long}"}},
        "description",
        "api_key",
    ),
    "reward description": (
        'mutation($d: String!) { createReward(input: {name: "Mug", type: GIFT, pointCost: 1,'
        " description: $d}) { errors { field code } } }",
        {"d": "{long}"},
        "description",
        "admin",
    ),
    "reward public data": (
        'mutation($d: JSON!) { createReward(input: {name: "Mug", type: GIFT, pointCost: 1,'
        " publicData: $d}) { errors { field code } } }",
        {"d": {"terms": "{long}"}},
        "publicData",
        "admin",
    ),
    "allowed origin": (
        "mutation($o: [String!]!) { setAllowedOrigins(origins: $o) { errors { field code } } }",
        {"o": ["https://{long}.example"]},
        "origins.0",
        "admin",
    ),
}


def _with_long(value: Any, long: str, member: str) -> Any:
    if isinstance(value, str):
        return value.replace("{long}", long).replace("{member}", member)
    if isinstance(value, dict):
        return {k: _with_long(v, long, member) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_long(v, long, member) for v in value]
    return value


@pytest.mark.parametrize(
    "operation, variables, field, credential", LENGTH_LIMITED.values(), ids=LENGTH_LIMITED.keys()
)
async def test_a_value_over_its_length_is_a_coded_error_naming_the_field(
    gql: GraphQLClient,
    tenant: TenantSession,
    operation: str,
    variables: Body,
    field: str,
    credential: str,
) -> None:
    # given a member to award to, and a value of 1 MB less a little (under the body limit)
    member = await make_member(UUID(tenant.tenant_id))
    long = "x" * 1_000_000
    # when
    body = await gql(
        operation,
        _with_long(variables, long, member.external_user_id),
        token=_credential(tenant, credential),
    )
    # then
    assert "errors" not in body, body["errors"][0]["message"]
    (payload,) = body["data"].values()
    assert [e["field"] for e in payload["errors"]] == [field]
    # TOO_LONG, as the REST endpoints say it (before, GraphQL payloads hid it as INVALID)
    expected = "INVALID_ORIGIN" if field.startswith("origins") else "TOO_LONG"
    assert payload["errors"][0]["code"] == expected


async def test_point_master_timeout_and_ttl_set_to_null_go_back_to_their_defaults(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given changed settings
    save = (
        "mutation($i: PointMasterSettingsInput!) { setPointMasterSettings(input: $i) {"
        " settings { pointsLogTimeoutMs pointsLogCacheSeconds } errors { field code } } }"
    )
    changed = await gql(
        save, {"i": {"pointsLogTimeoutMs": 900, "pointsLogCacheSeconds": 5}}, tenant.admin_token
    )
    assert changed["data"]["setPointMasterSettings"]["errors"] == []
    # when
    body = await gql(
        save,
        {"i": {"pointsLogTimeoutMs": None, "pointsLogCacheSeconds": None}},
        tenant.admin_token,
    )
    # then
    assert body["data"]["setPointMasterSettings"] == {
        "settings": {"pointsLogTimeoutMs": 5000, "pointsLogCacheSeconds": 60},
        "errors": [],
    }


@pytest.mark.parametrize(
    "claims",
    [{"tid": "not-a-uuid"}, {"sub": "42"}, {"tid": ""}],
    ids=["tid not a UUID", "sub not a UUID", "empty tid"],
)
async def test_a_signed_token_with_malformed_claims_is_unauthenticated(
    gql: GraphQLClient, settings: Settings, tenant: TenantSession, claims: dict[str, str]
) -> None:
    # given a token signed with the engine's own key
    values = {"subject": str(uuid4()), "tenant_id": tenant.tenant_id}
    values.update({"subject": claims["sub"]} if "sub" in claims else {})
    values.update({"tenant_id": claims["tid"]} if "tid" in claims else {})
    token = issue_token(settings.secret_key, "admin", values["subject"], values["tenant_id"], 60)
    # when
    graphql = await gql("{ apiKeys { id } }", token=token)
    rest = await gql.http.post(
        CALLBACK.format(uuid4()), json={"status": "failed"}, headers=_bearer(token)
    )
    # then
    assert _codes(graphql) == ["UNAUTHENTICATED"]
    assert rest.status_code == 401 and rest.json()["error"]["code"] == "UNAUTHENTICATED"


LOOKUPS_BY_EXTERNAL_ID = {
    "awardPoints": (
        "mutation($x: String!) { awardPoints(input: {externalUserId: $x, amount: 5}) {"
        " errors { field code } } }",
        {"awardPoints": {"errors": [{"field": "memberId", "code": "NOT_FOUND"}]}},
    ),
    "createMemberToken": (
        "mutation($x: String!) { createMemberToken(externalUserId: $x) { token"
        " errors { field code } } }",
        {
            "createMemberToken": {
                "token": None,
                "errors": [{"field": "memberId", "code": "NOT_FOUND"}],
            }
        },
    ),
    "member": ("query($x: String!) { member(externalUserId: $x) { id } }", {"member": None}),
    "pointsLog": ("query($x: String!) { pointsLog(externalUserId: $x) { contactId } }", None),
}


@pytest.mark.parametrize(
    "operation, data", LOOKUPS_BY_EXTERNAL_ID.values(), ids=LOOKUPS_BY_EXTERNAL_ID.keys()
)
async def test_an_external_id_longer_than_any_is_not_found(
    gql: GraphQLClient, tenant: TenantSession, operation: str, data: Body | None
) -> None:
    # when: 201 characters, one more than an externalUserId takes
    body = await gql(operation, {"x": "x" * 201}, token=tenant.api_key)
    # then
    if data is not None:
        assert body == {"data": data}
    else:
        assert _codes(body) == ["NOT_FOUND"]


async def test_login_with_an_email_longer_than_any_is_refused_as_bad_credentials(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # when
    body = await gql(
        'mutation($e: String!) { login(email: $e, password: "secret") { token errors { code } } }',
        {"e": "a" * 300 + "@example.com"},
    )
    # then
    assert body == {"data": {"login": {"token": None, "errors": [{"code": "INVALID_CREDENTIALS"}]}}}


async def test_a_preflight_from_an_origin_longer_than_any_is_refused(
    gql: GraphQLClient,
) -> None:
    # when
    response = await gql.http.options(
        "/graphql",
        headers={
            "Origin": "https://" + "a" * 400 + ".example",
            "Access-Control-Request-Method": "POST",
        },
    )
    # then
    assert response.status_code == 403


async def test_a_time_with_no_utc_equivalent_is_a_coded_error(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given: midnight of year 1 at +01:00 is in year 0 in UTC, which no calendar here has
    member = await make_member(UUID(tenant.tenant_id))
    award = {"externalUserId": member.external_user_id, "amount": 5}
    # when
    body = await gql(
        AWARD, {"i": award | {"validFrom": "0001-01-01T00:00:00+01:00"}}, tenant.api_key
    )
    # then
    assert body["data"] is None
    assert _codes(body) == ["BAD_USER_INPUT"]
    assert "outside years 1 to 9999" in body["errors"][0]["message"]


# --------------------------------------------------------------------------- integers

AWARD = (
    "mutation($i: AwardPointsInput!) { awardPoints(input: $i) {"
    " account { balance } errors { field code } } }"
)


async def test_awards_that_would_take_a_balance_past_32_bits_are_refused(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member awarded the largest amount twice
    member = await make_member(UUID(tenant.tenant_id))
    award = {"externalUserId": member.external_user_id, "amount": 1_000_000_000}
    for _ in range(2):
        done = await gql(AWARD, {"i": award}, tenant.api_key)
        assert done["data"]["awardPoints"]["errors"] == []
    # when: a third time (3*10^9 > 2^31-1), and as a pending award, and as an adjustment
    third = await gql(AWARD, {"i": award}, tenant.api_key)
    pending = await gql(AWARD, {"i": award | {"validFrom": "2099-01-01T00:00:00Z"}}, tenant.api_key)
    # then
    for refused in (third, pending):
        assert refused["data"]["awardPoints"]["errors"] == [
            {"field": "amount", "code": "BALANCE_LIMIT"}
        ]
    accounts = await gql(
        "query($id: ID!) { member(id: $id) { accounts { balance pending } } }",
        {"id": str(member.id)},
        tenant.api_key,
    )
    assert "errors" not in accounts
    assert accounts["data"]["member"]["accounts"] == [{"balance": 2_000_000_000, "pending": 0}]


async def test_adjustments_that_would_take_a_balance_past_32_bits_are_refused(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a member (the tenant owns its points) at 2*10^9
    member = await make_member(UUID(tenant.tenant_id))
    target = {"externalUserId": member.external_user_id}
    for _ in range(2):
        await gql(AWARD, {"i": target | {"amount": 1_000_000_000}}, tenant.api_key)
    adjust = (
        "mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) {"
        " adjustment { id } errors { field code } } }"
    )
    # when
    body = await gql(adjust, {"i": target | {"amount": 1_000_000_000}}, tenant.api_key)
    # then
    assert body["data"]["adjustPoints"] == {
        "adjustment": None,
        "errors": [{"field": "amount", "code": "BALANCE_LIMIT"}],
    }


async def test_the_balance_may_reach_exactly_the_32_bit_limit(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given
    member = await make_member(UUID(tenant.tenant_id))
    target = {"externalUserId": member.external_user_id}
    await gql(AWARD, {"i": target | {"amount": 1_000_000_000}}, tenant.api_key)
    await gql(AWARD, {"i": target | {"amount": 1_000_000_000}}, tenant.api_key)
    # when
    last = await gql(AWARD, {"i": target | {"amount": 147_483_647}}, tenant.api_key)
    # then
    assert last["data"]["awardPoints"] == {"account": {"balance": 2**31 - 1}, "errors": []}


# ------------------------------------------------------------------------- query cost


def _aliases(count: int, selection: str) -> str:
    return "{ " + " ".join(f"a{i}: {selection}" for i in range(count)) + " }"


HEAVY_REDEMPTIONS = (
    "redemptions(first: 100) { nodes { id status quantity pointsSpent createdAt"
    " reward { id name pointCost } member { id externalUserId email name"
    " accounts { balance pending } } events { id kind message actor createdAt } } }"
)


async def test_the_heaviest_aliased_query_is_refused_by_its_cost(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # when: 15 aliases (the alias limit) of 100 redemptions with their nested lists
    body = await gql(_aliases(15, HEAVY_REDEMPTIONS), token=tenant.admin_token)
    # then
    assert body.get("data") is None
    assert _codes(body) == ["QUERY_TOO_COSTLY"]


async def test_a_variable_page_size_counts_as_the_largest_page(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given: five aliases that pass with small literal pages
    selection = "redemptions(first: $n) { nodes { id events { id kind message actor createdAt } } }"
    operation = "query($n: Int) " + _aliases(5, selection)
    small = _aliases(5, selection.replace("$n", "2"))
    # when
    variable = await gql(operation, {"n": 2}, tenant.admin_token)
    literal = await gql(small, token=tenant.admin_token)
    # then
    assert _codes(variable) == ["QUERY_TOO_COSTLY"]
    assert "errors" not in literal


NORMAL_QUERIES = {
    "one page of redemptions with nested lists": "{ " + HEAVY_REDEMPTIONS + " }",
    "console redemptions, 100 a page": (
        "query($after: String) { redemptions(first: 100, after: $after) { nodes { id status"
        " quantity pointsSpent createdAt updatedAt reward { id name } member { id"
        " externalUserId email name } events { id } } pageInfo { hasNextPage endCursor } } }"
    ),
    "console rewards, 100 a page": (
        "{ rewards(includeArchived: true, first: 100) { nodes { id name description type"
        " value pointCost stock cooldownSeconds perMemberLimit availableFrom availableUntil"
        " fulfillmentData publicData imageUrl enabled archivedAt pointDefinition { id name }"
        " minTier { id name } } pageInfo { hasNextPage endCursor } } }"
    ),
    "members with accounts, 100 a page": (
        "{ members(first: 100) { nodes { id externalUserId email name createdAt tier { id"
        " name } accounts { id balance pending expiringSoon pointDefinition { id name } } }"
        " pageInfo { hasNextPage endCursor } } }"
    ),
    "widget catalog and balances": (
        "{ me { id name accounts { balance pending expiringSoon nextExpiryAt"
        " pointDefinition { name } } } catalog(first: 100) { nodes { reward { id name"
        " description type value pointCost imageUrl publicData } canRedeem reason } } }"
    ),
    "introspection": (
        "{ __schema { types { name fields { name args { name type { name kind ofType"
        " { name kind ofType { name kind ofType { name kind } } } } } } } } }"
    ),
}


@pytest.mark.parametrize("operation", NORMAL_QUERIES.values(), ids=NORMAL_QUERIES.keys())
async def test_normal_console_and_widget_queries_are_within_the_cost_limit(
    gql: GraphQLClient, tenant: TenantSession, operation: str
) -> None:
    # given
    member = await make_member(UUID(tenant.tenant_id), points=50)
    widget = issue_token(
        "test-secret-key-" + "x" * 32, "member", str(member.id), tenant.tenant_id, 60
    )
    token = widget if "me {" in operation else tenant.admin_token
    # when
    body = await gql(operation, token=token)
    # then
    assert "QUERY_TOO_COSTLY" not in _codes(body), body


async def test_the_cost_limit_is_a_setting(
    settings: Settings, db: str, tenant: TenantSession
) -> None:
    # given an engine with a tiny cost limit
    async with app_client(settings, max_query_cost=50) as strict:
        # when
        refused = await strict("{ rewards(first: 100) { nodes { id } } }", token=tenant.admin_token)
        allowed = await strict("{ rewards(first: 10) { nodes { id } } }", token=tenant.admin_token)
    # then
    assert _codes(refused) == ["QUERY_TOO_COSTLY"]
    assert refused["errors"][0]["extensions"]["limit"] == 50
    assert "errors" not in allowed
