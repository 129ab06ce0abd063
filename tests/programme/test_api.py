"""The programme over GraphQL and REST: rule CRUD by admins, trackEvent by backends, the
dry run (which writes nothing), the batch endpoint and its limits, coded errors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise import connections

from models.programme.tables import MemberEvent, RuleAward, RuleCapCounter
from tests.factories import make_member
from tests.graphql_client import GraphQLClient, TenantSession
from tests.programme.rules import make_rule, track

RULE_FIELDS = "id name eventType conditions awardKind points unitAmount rounding capPerMemberDay active archivedAt"
CREATE = f"""mutation($input: EarningRuleInput!) {{
  createEarningRule(input: $input) {{ rule {{ {RULE_FIELDS} }} errors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: EarningRuleInput!) {{
  updateEarningRule(id: $id, input: $input) {{ rule {{ {RULE_FIELDS} }} errors {{ field code }} }} }}"""
ARCHIVE = f"""mutation($id: ID!) {{
  archiveEarningRule(id: $id) {{ rule {{ {RULE_FIELDS} }} errors {{ field code }} }} }}"""
TRACK = """mutation($input: TrackEventInput!) {
  trackEvent(input: $input) {
    event { id type orderId } points replayed
    awards { ruleId points requested note ledgerEntryId grantId }
    errors { field code message } } }"""
SIMULATE = """query($type: String!, $p: JSON, $ext: String) {
  simulateEvent(type: $type, properties: $p, externalUserId: $ext) {
    points awards { rule { name } points requested reason } } }"""


async def test_an_admin_sets_up_a_rule_and_a_purchase_earns_by_it(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given an admin's rule: 1 point per 10 spent, rounded half up, on purchases in shoes
    rule = {
        "name": "Shoes",
        "eventType": "purchase",
        "awardKind": "PER_UNIT",
        "points": 1,
        "unitAmount": "10",
        "rounding": "HALF_UP",
        "conditions": {"all": [{"property": "category", "op": "in", "value": ["shoes"]}]},
        "capPerMemberDay": 500,
    }
    created = await gql(CREATE, {"input": rule}, tenant.admin_token)
    assert created["data"]["createEarningRule"]["errors"] == [], created
    rule_id = created["data"]["createEarningRule"]["rule"]["id"]
    member = await make_member(UUID(tenant.tenant_id))
    # when the backend tracks a purchase of 125 in shoes, twice (a retry)
    event = {
        "externalUserId": member.external_user_id,
        "type": "purchase",
        "idempotencyKey": "order-1",
        "properties": {"amount": 125, "currency": "EUR", "orderId": "1", "category": "shoes"},
    }
    first = (await gql(TRACK, {"input": event}, tenant.api_key))["data"]["trackEvent"]
    retry = (await gql(TRACK, {"input": event}, tenant.api_key))["data"]["trackEvent"]
    # then it earned 13 points once, named by the rule
    assert first["errors"] == [] and first["points"] == 13 and not first["replayed"]
    assert first["awards"][0]["ruleId"] == rule_id and first["awards"][0]["ledgerEntryId"]
    assert retry["replayed"] and retry["event"]["id"] == first["event"]["id"]
    ledger = await gql(
        "query($e: String) { ledger(externalUserId: $e) { nodes { amount description } } }",
        {"e": member.external_user_id},
        tenant.api_key,
    )
    [entry] = ledger["data"]["ledger"]["nodes"]
    assert entry["amount"] == 13 and "Shoes" in entry["description"]


async def test_rule_crud_and_its_coded_errors(gql: GraphQLClient, tenant: TenantSession) -> None:
    base = {"name": "Birthday", "eventType": "birthday", "awardKind": "FIXED", "points": 100}
    created = (await gql(CREATE, {"input": base}, tenant.admin_token))["data"]["createEarningRule"]
    rule_id = created["rule"]["id"]
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({**base, "name": "x", "eventType": "Bad Type"}, "eventType", "INVALID_EVENT_TYPE"),
        ({**base, "name": "x", "points": 0}, "points", "INVALID"),
        ({**base, "name": "x", "awardKind": "PER_UNIT"}, "unitAmount", "REQUIRED"),
        (
            {**base, "name": "x", "conditions": {"all": [{"property": "a", "op": "like"}]}},
            "conditions",
            "INVALID_CONDITION",
        ),
        ({**base}, "name", "DUPLICATE"),
        ({**base, "name": "x", "eventType": "return"}, "eventType", "INVALID_EVENT_TYPE"),
        ({"name": "y"}, "eventType", "REQUIRED"),
    ]
    for rule, field, code in bad:
        body = await gql(CREATE, {"input": rule}, tenant.admin_token)
        errors = body["data"]["createEarningRule"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], (rule, body)
    updated = await gql(
        UPDATE, {"id": rule_id, "input": {"points": 150, "active": False}}, tenant.admin_token
    )
    assert updated["data"]["updateEarningRule"]["rule"]["points"] == 150
    assert updated["data"]["updateEarningRule"]["rule"]["active"] is False
    archived = await gql(ARCHIVE, {"id": rule_id}, tenant.admin_token)
    assert archived["data"]["archiveEarningRule"]["rule"]["archivedAt"]
    again = await gql(UPDATE, {"id": rule_id, "input": {"points": 1}}, tenant.admin_token)
    assert again["data"]["updateEarningRule"]["errors"] == [{"field": None, "code": "ARCHIVED"}]
    listed = await gql("{ earningRules { id } }", token=tenant.api_key)
    assert listed["data"]["earningRules"] == []
    listed = await gql("{ earningRules(includeArchived: true) { id } }", token=tenant.api_key)
    assert [r["id"] for r in listed["data"]["earningRules"]] == [rule_id]
    by_type = "query($t: String) { earningRules(includeArchived: true, eventType: $t) { id } }"
    listed = await gql(by_type, {"t": " Birthday "}, tenant.api_key)
    assert [r["id"] for r in listed["data"]["earningRules"]] == [rule_id]
    for bad_type in ("x" * 65, "no spaces"):  # a filter no rule could match is refused
        refused = await gql(by_type, {"t": bad_type}, tenant.api_key)
        assert refused["data"] is None
        assert refused["errors"][0]["extensions"] == {
            "code": "INVALID_EVENT_TYPE",
            "field": "eventType",
        }
    # an API key may not change rules
    forbidden = await gql(CREATE, {"input": {**base, "name": "k"}}, tenant.api_key)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_track_event_errors_are_coded(gql: GraphQLClient, tenant: TenantSession) -> None:
    member = await make_member(UUID(tenant.tenant_id))
    cases = [
        ({"type": "purchase", "properties": {"amount": 5}}, "properties.orderId", "REQUIRED"),
        ({"type": "x y"}, "type", "INVALID_EVENT_TYPE"),
        ({"type": "review", "idempotencyKey": " "}, "idempotencyKey", "INVALID"),
        ({"type": "review", "externalUserId": "nobody"}, "externalUserId", "NOT_FOUND"),
    ]
    for extra, field, code in cases:
        event = {"externalUserId": member.external_user_id, "idempotencyKey": "k", **extra}
        body = await gql(TRACK, {"input": event}, tenant.api_key)
        errors = body["data"]["trackEvent"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], body
    member_token = (
        await gql(
            "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }",
            {"id": str(member.id)},
            tenant.api_key,
        )
    )["data"]["createMemberToken"]["token"]
    event = {"externalUserId": member.external_user_id, "type": "review", "idempotencyKey": "m"}
    body = await gql(TRACK, {"input": event}, member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def _row_counts() -> dict[str, int]:
    conn = connections.get("default")
    counts = {}
    for table in (
        "member_event",
        "rule_award",
        "rule_cap_counter",
        "ledger_entry",
        "point_grant",
        "point_account",
        "idempotency_key",
    ):
        _, rows = await conn.execute_query(f'SELECT COUNT(*) AS n FROM "{table}"')
        counts[table] = int(rows[0]["n"])
    return counts


async def test_simulation_shows_what_each_rule_would_award_and_writes_nothing(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given three purchase rules, one near its daily cap for the member, one inactive
    tenant_id = UUID(tenant.tenant_id)
    member = await make_member(tenant_id)
    await make_rule(tenant_id, name="Flat", points=50, cap_member_day=60)
    await make_rule(
        tenant_id,
        name="Big baskets",
        points=100,
        conditions={"all": [{"property": "amount", "op": "gte", "value": 200}]},
    )
    await make_rule(tenant_id, name="Paused", points=7, active=False)
    await track(tenant_id, member.external_user_id, "p-1", amount=10, orderId="1")
    before = await _row_counts()
    # when the admin simulates a purchase of 120 for the member
    body = await gql(
        SIMULATE,
        {"type": "purchase", "p": {"amount": 120, "orderId": "2"}, "ext": member.external_user_id},
        tenant.admin_token,
    )
    # then each rule says what it would award and why not
    simulation = body["data"]["simulateEvent"]
    assert simulation["points"] == 10
    by_rule = {a["rule"]["name"]: a for a in simulation["awards"]}
    assert (by_rule["Flat"]["points"], by_rule["Flat"]["requested"]) == (10, 50)
    assert "daily cap: 50 of 60 used" in by_rule["Flat"]["reason"]
    assert by_rule["Big baskets"]["points"] == 0
    assert "amount 120 is not gte 200" in by_rule["Big baskets"]["reason"]
    assert by_rule["Paused"]["reason"] == "the rule is not active"
    # and nothing was written
    assert await _row_counts() == before
    bad = await gql(SIMULATE, {"type": "purchase", "p": {"orderId": "3"}}, tenant.admin_token)
    assert bad["errors"][0]["extensions"]["code"] == "REQUIRED"


async def test_the_batch_endpoint_tracks_each_event_and_keeps_its_limits(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    tenant_id = UUID(tenant.tenant_id)
    member = await make_member(tenant_id)
    await make_rule(tenant_id, event_type="review", points=5)
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    ext = member.external_user_id
    events = [
        {
            "externalUserId": ext,
            "type": "review",
            "idempotencyKey": f"r-{n}",
            "occurredAt": "2026-11-02T10:00:00Z",
        }
        for n in range(3)
    ]
    events += [
        events[0],
        {"externalUserId": ext, "type": "review"},
        {"externalUserId": "ghost", "type": "review", "idempotencyKey": "g"},
    ]
    # when a batch with three reviews, a re-sent one and two bad ones is posted
    answer = await gql.http.post("/api/v1/events", json=events, headers=headers)
    # then each event has its result, and the good ones earned once
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["replayed"], body["rejected"], body["points"]) == (3, 1, 2, 15)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3 + [
        "replayed",
        "rejected",
        "rejected",
    ]
    assert body["results"][4]["error"]["field"] == "idempotencyKey"
    assert body["results"][5]["error"]["code"] == "NOT_FOUND"
    assert await RuleAward.filter(tenant_id=tenant_id).count() == 3
    # and the limits: 1,000 events at most, an array, an API key
    too_many = [events[0]] * 1001
    over = await gql.http.post("/api/v1/events", json=too_many, headers=headers)
    assert over.status_code == 413 and over.json()["error"]["code"] == "TOO_MANY_EVENTS"
    wrong = await gql.http.post("/api/v1/events", json={"events": []}, headers=headers)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "INVALID_JSON"
    empty = await gql.http.post("/api/v1/events", json=[], headers=headers)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "EMPTY_BATCH"
    admin = await gql.http.post(
        "/api/v1/events", json=events[:1], headers={"Authorization": f"Bearer {tenant.admin_token}"}
    )
    assert admin.status_code == 403
    anonymous = await gql.http.post("/api/v1/events", json=events[:1])
    assert anonymous.status_code == 401
    assert await MemberEvent.filter(tenant_id=tenant_id).count() == 3
    assert await RuleCapCounter.all().count() == 0
