"""Reports over GraphQL and as streamed CSV (admin JWT), tier policy and overrides over
GraphQL, with coded errors for bad input."""

from __future__ import annotations

import csv
import io

from tests.graphql_client import GraphQLClient, open_tenant

AWARD = (
    "mutation($e: String!, $n: Int!) { awardPoints(input: {externalUserId: $e, amount: $n,"
    " source: PURCHASE}) { account { balance } errors { code } } }"
)
UPSERT = "mutation($e: String!) { upsertMember(input: {externalUserId: $e}) { member { id } } }"


async def test_reports_answer_over_graphql_and_as_csv(gql: GraphQLClient) -> None:
    # given a tenant whose members earned 300 and 200 points
    shop = await open_tenant(gql)
    for ext, points in (("u1", 300), ("u2", 200)):
        await gql(UPSERT, {"e": ext}, shop.api_key)
        await gql(AWARD, {"e": ext, "n": points}, shop.api_key)

    # when the admin asks for the liability, points per day and sources
    body = await gql(
        "{ pointsLiability { pointDefinition { name } active pending total }"
        " pointsByDay { earned spent } earningSources { source points postings } }",
        token=shop.admin_token,
    )
    # then they count what was earned
    data = body["data"]
    assert data["pointsLiability"] == [
        {"pointDefinition": {"name": "points"}, "active": 500, "pending": 0, "total": 500}
    ]
    assert [d["earned"] for d in data["pointsByDay"]] == [500]
    assert data["earningSources"] == [{"source": "PURCHASE", "points": 500, "postings": 2}]

    # when the same is downloaded as CSV
    response = await gql.http.get(
        "/api/v1/reports/liability.csv",
        headers={"Authorization": f"Bearer {shop.admin_token}"},
    )
    ledger = await gql.http.get(
        "/api/v1/reports/ledger.csv", headers={"Authorization": f"Bearer {shop.admin_token}"}
    )
    # then it is a CSV attachment with a header row
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["point_definition"], r["active"], r["total"]) for r in rows] == [
        ("points", "500", "500")
    ]
    lines = list(csv.DictReader(io.StringIO(ledger.text)))
    assert sorted((r["external_user_id"], r["amount"]) for r in lines) == [
        ("u1", "300"),
        ("u2", "200"),
    ]


async def test_csv_reports_take_an_admin_token_and_known_names(gql: GraphQLClient) -> None:
    shop = await open_tenant(gql)
    # an API key, no credential, an unknown report, a bad range
    key = await gql.http.get(
        "/api/v1/reports/liability.csv", headers={"Authorization": f"Bearer {shop.api_key}"}
    )
    anonymous = await gql.http.get("/api/v1/reports/liability.csv")
    admin = {"Authorization": f"Bearer {shop.admin_token}"}
    unknown = await gql.http.get("/api/v1/reports/everything.csv", headers=admin)
    backwards = await gql.http.get(
        "/api/v1/reports/points-by-day.csv?since=2026-02-01&until=2026-01-01", headers=admin
    )
    assert (key.status_code, anonymous.status_code) == (403, 401)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert (backwards.status_code, backwards.json()["error"]["field"]) == (400, "since")


async def test_tier_policy_and_override_over_graphql(gql: GraphQLClient) -> None:
    # given a tenant with Silver from 100 points, and its policy enabled
    shop = await open_tenant(gql)
    tier = await gql(
        'mutation { saveTier(input: {name: "Silver", rank: 1, minValue: 100}) { tier { id minValue } } }',
        token=shop.admin_token,
    )
    assert tier["data"]["saveTier"]["tier"]["minValue"] == 100
    bad = await gql(
        "mutation { saveTierPolicy(input: {enabled: true, windowMonths: 0}) {"
        " tierPolicy { enabled } errors { field code } } }",
        token=shop.admin_token,
    )
    assert bad["data"]["saveTierPolicy"]["errors"] == [{"field": "windowMonths", "code": "INVALID"}]
    saved = await gql(
        "mutation { saveTierPolicy(input: {enabled: true, graceDays: 14}) {"
        " tierPolicy { enabled windowMonths reviewMonths graceDays } errors { code } } }",
        token=shop.admin_token,
    )
    assert saved["data"]["saveTierPolicy"]["tierPolicy"] == {
        "enabled": True, "windowMonths": 12, "reviewMonths": 12, "graceDays": 14,
    }  # fmt: skip
    member = (await gql(UPSERT, {"e": "u1"}, shop.api_key))["data"]["upsertMember"]["member"]

    # when the member earns 150 points, then an admin removes its tier by hand
    await gql(AWARD, {"e": "u1", "n": 150}, shop.api_key)
    no_reason = await gql(
        "mutation($m: ID!) { setMemberTier(input: {memberId: $m}) { errors { field code } } }",
        {"m": member["id"]},
        shop.admin_token,
    )
    await gql(
        'mutation($m: ID!) { setMemberTier(input: {memberId: $m, reason: "Fraud check"}) {'
        " tierChange { reason } errors { code } } }",
        {"m": member["id"]},
        shop.admin_token,
    )
    card = await gql(
        "query($m: ID) { member(id: $m) { tier { name } tierStatus { overridden overrideReason"
        " activity } tierHistory { fromTierName toTierName reason note } } }",
        {"m": member["id"]},
        shop.admin_token,
    )

    # then the history shows the upgrade and the override with its reason
    assert no_reason["data"]["setMemberTier"]["errors"] == [{"field": "reason", "code": "REQUIRED"}]
    found = card["data"]["member"]
    assert found["tier"] is None
    assert found["tierStatus"] == {
        "overridden": True,
        "overrideReason": "Fraud check",
        "activity": 150,
    }
    assert found["tierHistory"] == [
        {"fromTierName": "Silver", "toTierName": None, "reason": "MANUAL", "note": "Fraud check"},
        {"fromTierName": None, "toTierName": "Silver", "reason": "UPGRADE", "note": ""},
    ]


async def test_top_rules_count_the_awards_of_each_earning_rule(gql: GraphQLClient) -> None:
    # given two rules, and purchases tracked for a member
    shop = await open_tenant(gql)
    create = (
        "mutation($input: EarningRuleInput!) { createEarningRule(input: $input) {"
        " rule { id } errors { code } } }"
    )
    for name, points in (("Welcome", 50), ("Every purchase", 10)):
        await gql(
            create,
            {
                "input": {
                    "name": name,
                    "eventType": "purchase",
                    "awardKind": "FIXED",
                    "points": points,
                }
            },
            shop.admin_token,
        )
    await gql(UPSERT, {"e": "u1"}, shop.api_key)
    track = "mutation($input: TrackEventInput!) { trackEvent(input: $input) { points errors { code } } }"
    for n in range(3):
        body = await gql(
            track,
            {"input": {"externalUserId": "u1", "type": "purchase", "idempotencyKey": f"o{n}",
                       "properties": {"amount": 10, "orderId": str(n)}}},
            shop.api_key,
        )  # fmt: skip
        assert body["data"]["trackEvent"]["points"] == 60, body

    # when the admin asks for the top rules, and their CSV
    top = await gql("{ topRules { ruleName awards points takenBack } }", token=shop.admin_token)
    csv_file = await gql.http.get(
        "/api/v1/reports/top-rules.csv", headers={"Authorization": f"Bearer {shop.admin_token}"}
    )

    # then each rule's awards and points are counted, most points first
    assert top["data"]["topRules"] == [
        {"ruleName": "Welcome", "awards": 3, "points": 150, "takenBack": 0},
        {"ruleName": "Every purchase", "awards": 3, "points": 30, "takenBack": 0},
    ]
    rows = list(csv.DictReader(io.StringIO(csv_file.text)))
    assert [(r["rule"], r["points"]) for r in rows] == [
        ("Welcome", "150"),
        ("Every purchase", "30"),
    ]
