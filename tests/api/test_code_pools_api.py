"""Voucher code pools over the API: the admin fills a pool (GraphQL and CSV), members
redeem and see their code, the tenant exports; nobody else sees a code, no log line has one."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any
from uuid import UUID

import pytest

from core import cache
from models.catalog.tables import VoucherCode
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat, WebhookDelivery
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession

POOL = "pool { size free used burnt expired lowStockThreshold }"
ATTACH = f"""
mutation($r: ID!, $t: Int) {{
  attachCodePool(rewardId: $r, lowStockThreshold: $t) {{ {POOL} errors {{ field code message }} }}
}}"""
UPLOAD = f"""
mutation($r: ID!, $codes: [VoucherCodeInput!]!) {{
  uploadVoucherCodes(rewardId: $r, codes: $codes) {{
    {POOL} added duplicates invalid errors {{ field code message }}
  }}
}}"""
GENERATE = f"""
mutation($r: ID!, $input: GenerateCodesInput!) {{
  generateVoucherCodes(rewardId: $r, input: $input) {{
    {POOL} added duplicates invalid errors {{ field code message }}
  }}
}}"""
BURN = f"""
mutation($r: ID!, $codes: [String!]!) {{
  burnVoucherCodes(rewardId: $r, codes: $codes) {{ {POOL} burnt errors {{ field code }} }}
}}"""
REDEEM = """
mutation($r: ID!) {
  redeemReward(rewardId: $r) {
    redemption { id status fulfillmentData fulfilledAt } errors { code }
  }
}"""
MINE = "{ redemptions { nodes { id status fulfillmentData reward { id codePool { size } } } } }"
CATALOG = "{ catalog { nodes { reward { id } canRedeem reason } } }"


async def member_token(gql: GraphQLClient, tenant: TenantSession, member_id: UUID) -> str:
    body = await gql(
        "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }",
        {"id": str(member_id)},
        tenant.api_key,
    )
    token: str = body["data"]["createMemberToken"]["token"]
    return token


async def test_admin_fills_a_pool_and_reads_its_counts(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a reward
    reward = await make_reward(UUID(tenant.tenant_id), name="Gift card", point_cost=100)
    r = str(reward.id)
    # when the admin attaches a pool, uploads codes and generates more
    attached = await gql(ATTACH, {"r": r, "t": 5}, tenant.admin_token)
    uploaded = await gql(
        UPLOAD,
        {
            "r": r,
            "codes": [
                {"code": "GC-1"},
                {"code": "GC-2", "expiresAt": "2099-01-01T00:00:00Z"},
                {"code": "GC-1"},
                {"code": "bad code"},
            ],
        },
        tenant.admin_token,
    )
    generated = await gql(
        GENERATE, {"r": r, "input": {"count": 20, "pattern": "GC-########"}}, tenant.admin_token
    )
    burnt = await gql(BURN, {"r": r, "codes": ["GC-2", "NOT-THERE"]}, tenant.admin_token)
    # then each answers with what it did, and the pool's counts
    assert attached["data"]["attachCodePool"] == {
        "pool": {"size": 0, "free": 0, "used": 0, "burnt": 0, "expired": 0, "lowStockThreshold": 5},
        "errors": [],
    }
    up = uploaded["data"]["uploadVoucherCodes"]
    assert (up["added"], up["duplicates"], up["invalid"], up["errors"]) == (2, 1, 1, [])
    assert up["pool"]["free"] == 2
    gen = generated["data"]["generateVoucherCodes"]
    assert (gen["added"], gen["pool"]["size"], gen["errors"]) == (20, 22, [])
    assert burnt["data"]["burnVoucherCodes"]["burnt"] == 1
    assert burnt["data"]["burnVoucherCodes"]["pool"]["free"] == 21
    # and the reward shows its pool to the admin and the backend
    for token in (tenant.admin_token, tenant.api_key):
        read = await gql(f'{{ reward(id: "{r}") {{ codePool {{ size burnt }} }} }}', token=token)
        assert read["data"]["reward"]["codePool"] == {"size": 22, "burnt": 1}


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (
            GENERATE,
            {"input": {"count": 10, "pattern": "SUMMER-####", "charset": "0123"}},
            "pattern",
        ),
        (GENERATE, {"input": {"count": 10, "pattern": "NO-SLOTS"}}, "pattern"),
        (GENERATE, {"input": {"count": 10, "charset": "A"}}, "charset"),
        (GENERATE, {"input": {"count": 10, "length": 200}}, "length"),
        (GENERATE, {"input": {"count": 0}}, "count"),
        (GENERATE, {"input": {"count": 1, "expiresAt": "2001-01-01T00:00:00Z"}}, "expiresAt"),
        (ATTACH, {"t": 0}, "lowStockThreshold"),
    ],
)
async def test_bad_input_is_refused_with_a_code(
    gql: GraphQLClient, tenant: TenantSession, document: str, variables: dict[str, Any], field: str
) -> None:
    reward = await make_reward(UUID(tenant.tenant_id), point_cost=1)
    body = await gql(document, {"r": str(reward.id), **variables}, tenant.admin_token)
    (payload,) = body["data"].values()
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")], body
    assert payload["pool"] is None
    assert await VoucherCode.all().count() == 0


async def test_only_admins_manage_pools(gql: GraphQLClient, tenant: TenantSession) -> None:
    reward = await make_reward(UUID(tenant.tenant_id), point_cost=1)
    member = await make_member(UUID(tenant.tenant_id))
    for token in (tenant.api_key, await member_token(gql, tenant, member.id)):
        body = await gql(UPLOAD, {"r": str(reward.id), "codes": [{"code": "X"}]}, token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await VoucherCode.all().count() == 0


async def test_member_redeems_and_sees_its_code_others_do_not(
    gql: GraphQLClient, tenant: TenantSession, caplog: pytest.LogCaptureFixture
) -> None:
    # given a pooled reward with two codes, a webhook endpoint, and two members
    # logged as `gamify serve --verbose` logs (engine.logging_setup): INFO, Tortoise's SQL off
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="tortoise")
    tenant_id = UUID(tenant.tenant_id)
    reward = await make_reward(tenant_id, name="Cinema", point_cost=100)
    r = str(reward.id)
    await gql(
        UPLOAD,
        {"r": r, "codes": [{"code": "SECRET-AAA"}, {"code": "SECRET-BBB"}]},
        tenant.admin_token,
    )
    await create_endpoint(
        tenant_id,
        "http://127.0.0.1:9/hooks",
        ["reward_redeemed", "redemption.status_changed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    alice = await make_member(tenant_id, points=500)
    bob = await make_member(tenant_id, points=500)
    alice_token = await member_token(gql, tenant, alice.id)
    bob_token = await member_token(gql, tenant, bob.id)
    # when Alice redeems
    body = await gql(REDEEM, {"r": r}, alice_token)
    # then her redemption is FULFILLED at once, with the first code
    redemption = body["data"]["redeemReward"]["redemption"]
    assert redemption["status"] == "FULFILLED"
    assert redemption["fulfillmentData"] == {"code": "SECRET-AAA"}
    assert redemption["fulfilledAt"] is not None
    # and she sees it among her redemptions; the pool stays the tenant's
    mine = (await gql(MINE, token=alice_token))["data"]["redemptions"]["nodes"]
    assert [(n["fulfillmentData"], n["reward"]["codePool"]) for n in mine] == [
        ({"code": "SECRET-AAA"}, None)
    ]
    # and Bob sees neither her redemption nor her code
    theirs = await gql(MINE, token=bob_token)
    assert theirs["data"]["redemptions"]["nodes"] == []
    direct = await gql(
        f'{{ redemption(id: "{redemption["id"]}") {{ fulfillmentData }} }}', token=bob_token
    )
    assert direct == {"data": {"redemption": None}}
    # and the tenant sees it, in the API and in both webhooks
    tenant_view = await gql(
        f'{{ redemption(id: "{redemption["id"]}") {{ fulfillmentData }} }}', token=tenant.api_key
    )
    assert tenant_view["data"]["redemption"]["fulfillmentData"] == {"code": "SECRET-AAA"}
    events = sorted(
        (d.event, d.payload.get("new_status"))
        for d in await WebhookDelivery.filter(redemption_id=UUID(redemption["id"]))
    )
    assert events == [("redemption.created", None), ("redemption.status_changed", "FULFILLED")]
    changed = await WebhookDelivery.get(event="redemption.status_changed")
    assert changed.payload["fulfillmentData"] == {"code": "SECRET-AAA"}
    # when Bob takes the last code and Alice tries again
    await gql(REDEEM, {"r": r}, bob_token)
    again = await gql(REDEEM, {"r": r}, alice_token)
    catalog = await gql(CATALOG, token=alice_token)
    # then she is refused OUT_OF_STOCK, as her catalog says
    assert again["data"]["redeemReward"]["errors"] == [{"code": "OUT_OF_STOCK"}]
    item = next(n for n in catalog["data"]["catalog"]["nodes"] if n["reward"]["id"] == r)
    assert (item["canRedeem"], item["reason"]) == (False, "OUT_OF_STOCK")
    # and no log line carried a code
    assert "SECRET-" not in caplog.text


async def test_csv_upload_and_export(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given a reward, and a CSV with a header, an expiry, a duplicate and bad rows
    reward = await make_reward(UUID(tenant.tenant_id), point_cost=1)
    url = f"/api/v1/rewards/{reward.id}/codes"
    admin = {"Authorization": f"Bearer {tenant.admin_token}", "Content-Type": "text/csv"}
    body = (
        "code,expires_at\r\n"
        "CSV-1,2099-06-30T00:00:00Z\r\n"
        "CSV-2,\r\n"
        "CSV-3\n"
        "CSV-2\n"
        "\n"
        "CSV-4,not a date\n"
        '"CSV,5"\n'
        "CSV-6,2001-01-01\n"
    )
    # when the admin uploads it
    answer = await gql.http.post(url, content=body.encode(), headers=admin)
    # then the good rows are added and the others counted
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "added": 4,
        "duplicates": 1,
        "invalid": 2,  # an unreadable expiry, an expired code
        "pool": {"size": 4, "free": 4, "used": 0, "burnt": 0, "expired": 0},
    }
    # when it exports the pool
    exported = await gql.http.get(url, headers={"Authorization": admin["Authorization"]})
    # then every code comes back in upload order, with its expiry and status
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["code"], r["expires_at"][:10], r["status"]) for r in rows] == [
        ("CSV-1", "2099-06-30", "FREE"),
        ("CSV-2", "", "FREE"),
        ("CSV-3", "", "FREE"),
        ("CSV,5", "", "FREE"),  # quoted as it came
    ]


async def test_csv_refusals(
    gql: GraphQLClient, tenant: TenantSession, other_tenant: TenantSession
) -> None:
    reward = await make_reward(UUID(tenant.tenant_id), point_cost=1)
    url = f"/api/v1/rewards/{reward.id}/codes"

    def headers(token: str, kind: str = "text/csv") -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Content-Type": kind}

    cases = [
        (headers(tenant.api_key), b"A\n", 403, "FORBIDDEN"),
        ({"Content-Type": "text/csv"}, b"A\n", 401, "UNAUTHENTICATED"),
        (headers(other_tenant.admin_token), b"A\n", 404, "NOT_FOUND"),
        (headers(tenant.admin_token, "application/json"), b"[]", 400, "UNSUPPORTED_MEDIA_TYPE"),
        (headers(tenant.admin_token), b"\xff\xfe\n", 400, "INVALID_UTF8"),
        (headers(tenant.admin_token), b"C\n" * 100_001, 400, "INVALID"),
    ]
    for sent_headers, content, status, code in cases:
        answer = await gql.http.post(url, content=content, headers=sent_headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
    exported = await gql.http.get(url, headers=headers(other_tenant.admin_token))
    assert exported.status_code == 404
    assert await VoucherCode.all().count() == 0


async def test_csv_of_100000_codes_is_taken_in_one_request(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    reward = await make_reward(UUID(tenant.tenant_id), point_cost=1)
    content = "".join(f"BULK-{n:06d}\n" for n in range(100_000)).encode()
    answer = await gql.http.post(
        f"/api/v1/rewards/{reward.id}/codes",
        content=content,
        headers={"Authorization": f"Bearer {tenant.admin_token}", "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["added"] == 100_000
    assert answer.json()["pool"]["free"] == 100_000


async def test_a_cached_catalog_sees_a_pool_attached_later(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a process that caches the tenant's facts (which rewards have a pool), and a
    # member whose catalog was read while the reward had no pool
    cache.follow(True)
    try:
        reward = await make_reward(UUID(tenant.tenant_id), point_cost=10, stock=None)
        member = await make_member(UUID(tenant.tenant_id), points=100)
        token = await member_token(gql, tenant, member.id)
        before = await gql(CATALOG, token=token)
        # when the admin attaches an empty pool to it
        attached = await gql(ATTACH, {"r": str(reward.id)}, tenant.admin_token)
        after = await gql(CATALOG, token=token)
    finally:
        cache.follow(False)
    # then the catalog bounds the reward by the pool at once: nothing to hand out
    assert attached["data"]["attachCodePool"]["pool"]["size"] == 0
    reasons = [
        [(n["canRedeem"], n["reason"]) for n in body["data"]["catalog"]["nodes"]]
        for body in (before, after)
    ]
    assert reasons == [[(True, None)], [(False, "OUT_OF_STOCK")]]
