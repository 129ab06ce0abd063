"""Tenant B probing members, their points and ledgers of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    ALL,
    BACKEND,
    NOT_FOUND_PAYLOAD,
    Probe,
    expect_empty,
    expect_me_is_own,
    expect_new_member_of_b,
    expect_no_error,
    expect_null,
    expect_payload_not_found,
    expect_top_not_found,
    probe_test,
)

pytestmark = pytest.mark.module_world

PROBES: list[Probe] = [
    Probe(
        "me",
        "own-member",
        "{ me { id email accounts { id balance } } }",
        lambda ids: {},
        ("member",),
        expect_me_is_own,
    ),
    Probe(
        "member",
        "by-id-and-ext",
        "query($id: ID, $ext: String) { byId: member(id: $id) { id email }"
        " byExt: member(externalUserId: $ext) { id email } }",
        lambda ids: {"id": ids["a_member"], "ext": ids["a_member_ext"]},
        ALL,
        expect_null,
    ),
    Probe(
        "members",
        "list",
        "{ members { nodes { id externalUserId email } } }",
        lambda ids: {},
        BACKEND,
        expect_no_error,
    ),
    Probe(
        "ledger",
        "foreign-member",
        "query($m: ID) { ledger(memberId: $m) { nodes { id amount } } }",
        lambda ids: {"m": ids["a_member"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "ledger",
        "foreign-external-id",
        "query($e: String) { ledger(externalUserId: $e) { nodes { id amount } } }",
        lambda ids: {"e": ids["a_member_ext"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "ledger",
        "own-member-foreign-definition",
        "query($m: ID, $d: ID) { ledger(memberId: $m, pointDefinitionId: $d) { nodes { id } } }",
        lambda ids: {"m": ids["b_member"], "d": ids["a_definition"]},
        ALL,
        expect_empty,
    ),
    Probe(
        "createMemberToken",
        "foreign-member",
        "mutation($m: ID, $e: String) {"
        f" byId: createMemberToken(memberId: $m) {{ token {NOT_FOUND_PAYLOAD} }}"
        f" byExt: createMemberToken(externalUserId: $e) {{ token {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"m": ids["a_member"], "e": ids["a_member_ext"]},
        BACKEND,
        expect_payload_not_found,
    ),
    Probe(
        "upsertMember",
        "foreign-tier",
        'mutation($t: ID) { upsertMember(input: {externalUserId: "beta-new", tierId: $t})'
        f" {{ member {{ id }} created {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"t": ids["a_tier"]},
        BACKEND,
        expect_payload_not_found,
    ),
    Probe(
        "upsertMember",
        "foreign-external-id-is-a-new-member",
        "mutation($e: String!) { upsertMember(input: {externalUserId: $e,"
        ' email: "beta-new@example.com"}) { member { id email name tier { id }'
        " accounts { balance } } created errors { code } } }",
        lambda ids: {"e": ids["a_member_ext"]},
        BACKEND,
        expect_new_member_of_b,
        same_as_ghost=False,
    ),
    Probe(
        "awardPoints",
        "foreign-member-and-definition",
        "mutation($m: ID, $e: String, $own: ID, $d: ID) {"
        f" byId: awardPoints(input: {{memberId: $m, amount: 1000}}) {{ account {{ id balance }} {NOT_FOUND_PAYLOAD} }}"
        f" byExt: awardPoints(input: {{externalUserId: $e, amount: -100}}) {{ account {{ id }} {NOT_FOUND_PAYLOAD} }}"
        " byDef: awardPoints(input: {memberId: $own, pointDefinitionId: $d, amount: 1000})"
        f" {{ account {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {
            "m": ids["a_member"],
            "e": ids["a_member_ext"],
            "own": ids["b_member"],
            "d": ids["a_definition2"],
        },
        BACKEND,
        expect_payload_not_found,
    ),
    Probe(
        "members",
        "search-for-a",
        "query($e: String!, $x: String!) { byEmail: members(search: $e) { nodes { id } }"
        " byExt: members(search: $x) { nodes { id } } }",
        lambda ids: {"e": ids["a_member_email"], "x": ids["a_member_ext"]},
        BACKEND,
        expect_empty,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
