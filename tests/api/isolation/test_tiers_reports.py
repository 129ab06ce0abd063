"""Tenant B probing tenant A's tier policy, member tiers and reports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.isolation.probes import (
    ADMIN,
    BACKEND,
    NOT_FOUND_PAYLOAD,
    Probe,
    expect_no_error,
    expect_payload_not_found,
    probe_test,
)

pytestmark = pytest.mark.module_world


def expect_no_rows(body: dict[str, Any], ids: dict[str, str]) -> None:
    assert "errors" not in body, body
    assert all(value == [] for value in body["data"].values()), body


PROBES: list[Probe] = [
    Probe(
        "tierPolicy",
        "own",
        "{ tierPolicy { enabled basis pointDefinitionId windowMonths } }",
        lambda ids: {},
        BACKEND,
        expect_no_error,
    ),
    Probe(
        "saveTierPolicy",
        "foreign-definition",
        "mutation($d: ID) { saveTierPolicy(input: {enabled: true, pointDefinitionId: $d})"
        f" {{ tierPolicy {{ enabled }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"d": ids["a_definition2"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "setMemberTier",
        "foreign-member-and-tier",
        "mutation($m: ID!, $own: ID!, $t: ID) {"
        f' member: setMemberTier(input: {{memberId: $m, reason: "x"}}) {{ tierChange {{ id }} {NOT_FOUND_PAYLOAD} }}'
        f' tier: setMemberTier(input: {{memberId: $own, tierId: $t, reason: "x"}}) {{ tierChange {{ id }} {NOT_FOUND_PAYLOAD} }}'
        f" clear: setMemberTier(input: {{memberId: $m, clearOverride: true}}) {{ tierChange {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"m": ids["a_member"], "own": ids["b_member"], "t": ids["a_tier"]},
        BACKEND,
        expect_payload_not_found,
    ),
    Probe(
        "pointsLiability",
        "only-own-currencies",
        "{ pointsLiability { pointDefinition { id name } active pending total } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "pointsByDay",
        "foreign-definition",
        "query($d: ID) { pointsByDay(pointDefinitionId: $d) { day earned spent } }",
        lambda ids: {"d": ids["a_definition"]},
        ADMIN,
        expect_no_rows,
    ),
    Probe(
        "redemptionsByReward",
        "own",
        "{ redemptionsByReward { rewardId rewardName status redemptions } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "topRules",
        "own",
        "{ topRules { ruleId ruleName awards points } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "earningSources",
        "own",
        "{ earningSources { source points postings } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
