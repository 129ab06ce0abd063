"""Tenant B probing the programme: earning rules, events and members of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    ADMIN,
    BACKEND,
    NOT_FOUND_PAYLOAD,
    Probe,
    expect_no_error,
    expect_payload_not_found,
    expect_top_not_found,
    probe_test,
)
from tests.api.isolation.world import Body, Ids

pytestmark = pytest.mark.module_world

TRACK = (
    "mutation($ext: String!, $key: String!) { trackEvent(input: {externalUserId: $ext,"
    ' type: "review", idempotencyKey: $key}) { event { id memberId } awards { ruleId points }'
    f" points replayed {NOT_FOUND_PAYLOAD} }} }}"
)


def expect_own_event_of_b(body: Body, ids: Ids) -> None:
    """A's key on B's member is a new event of B's (or B's own replay): never A's event."""
    assert "errors" not in body, body
    tracked = body["data"]["trackEvent"]
    assert tracked["errors"] == [] and tracked["event"]["memberId"] == ids["b_member"], body
    assert tracked["event"]["id"] != ids["a_event"] and tracked["awards"] == [], body


RULE = '{name: "beta-rule", eventType: "review", awardKind: FIXED, points: 1'

PROBES: list[Probe] = [
    Probe(
        "earningRules",
        "list",
        "{ earningRules(includeArchived: true) { id name conditions pointDefinitionId } }",
        lambda ids: {},
        BACKEND,
        expect_no_error,
    ),
    Probe(
        "simulateEvent",
        "foreign-member",
        'query($ext: String) { simulateEvent(type: "review", externalUserId: $ext)'
        " { points awards { rule { id name } points reason } } }",
        lambda ids: {"ext": ids["a_member_ext"]},
        BACKEND,
        expect_top_not_found,
    ),
    Probe(
        "simulateEvent",
        "own-tenant",
        '{ simulateEvent(type: "review") { points awards { rule { id name } reason } } }',
        lambda ids: {},
        BACKEND,
        expect_no_error,
    ),
    Probe(
        "trackEvent",
        "foreign-member",
        TRACK,
        lambda ids: {"ext": ids["a_member_ext"], "key": "beta-key"},
        BACKEND,
        expect_payload_not_found,
    ),
    Probe(
        "trackEvent",
        "foreign-key",
        TRACK,
        lambda ids: {"ext": ids["b_member_ext"], "key": ids["a_event_key"]},
        BACKEND,
        expect_own_event_of_b,
        same_as_ghost=False,
    ),
    Probe(
        "createEarningRule",
        "foreign-definition",
        f"mutation($d: ID) {{ createEarningRule(input: {RULE}, pointDefinitionId: $d}})"
        f" {{ rule {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"d": ids["a_definition2"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "updateEarningRule",
        "foreign-rule",
        'mutation($r: ID!) { updateEarningRule(id: $r, input: {name: "hijacked", points: 999,'
        f" active: false}}) {{ rule {{ id name }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_rule"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "archiveEarningRule",
        "foreign-rule",
        f"mutation($r: ID!) {{ archiveEarningRule(id: $r) {{ rule {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_rule"]},
        ADMIN,
        expect_payload_not_found,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
