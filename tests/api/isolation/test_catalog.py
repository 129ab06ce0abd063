"""Tenant B probing the catalog: rewards, tiers, point currencies of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    ADMIN,
    ALL,
    BACKEND,
    NOT_FOUND_PAYLOAD,
    Probe,
    expect_no_error,
    expect_null,
    expect_payload_not_found,
    expect_top_not_found,
    probe_test,
)

pytestmark = pytest.mark.module_world

PROBES: list[Probe] = [
    Probe(
        "catalog",
        "list",
        "{ catalog { nodes { reward { id name } canRedeem reason } } }",
        lambda ids: {},
        ALL,
        expect_no_error,
    ),
    Probe(
        "catalog",
        "for-foreign-member",
        "query($m: ID) { catalog(memberId: $m) { nodes { reward { id name } canRedeem } } }",
        lambda ids: {"m": ids["a_member"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "rewards",
        "with-archived",
        "{ rewards(includeArchived: true) { nodes { id name } } }",
        lambda ids: {},
        BACKEND,
        expect_no_error,
    ),
    Probe(
        "reward",
        "live-gated-archived",
        "query($a: ID!, $b: ID!, $c: ID!) { live: reward(id: $a) { id name }"
        " gated: reward(id: $b) { id name } archived: reward(id: $c) { id name } }",
        lambda ids: {"a": ids["a_reward"], "b": ids["a_gated"], "c": ids["a_retired"]},
        ALL,
        expect_null,
    ),
    Probe("tiers", "list", "{ tiers { id name rank } }", lambda ids: {}, ALL, expect_no_error),
    Probe(
        "pointDefinitions",
        "list",
        "{ pointDefinitions { id name externalId } }",
        lambda ids: {},
        ALL,
        expect_no_error,
    ),
    Probe(
        "saveTier",
        "foreign-tier",
        'mutation($t: ID) { saveTier(input: {id: $t, name: "hijacked", rank: 99})'
        f" {{ tier {{ id name }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"t": ids["a_tier"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "deleteTier",
        "foreign-tiers",
        "mutation($t: ID!, $t2: ID!) {"
        f" t1: deleteTier(id: $t) {{ deleted {NOT_FOUND_PAYLOAD} }}"
        f" t2: deleteTier(id: $t2) {{ deleted {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"t": ids["a_tier"], "t2": ids["a_tier2"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "savePointDefinition",
        "foreign-definitions",
        "mutation($d: ID, $d2: ID) {"
        ' d1: savePointDefinition(input: {id: $d, name: "hijacked"})'
        f" {{ pointDefinition {{ id }} {NOT_FOUND_PAYLOAD} }}"
        ' d2: savePointDefinition(input: {id: $d2, name: "hijacked2"})'
        f" {{ pointDefinition {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"d": ids["a_definition"], "d2": ids["a_definition2"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "createReward",
        "foreign-definition-and-tier",
        "mutation($d: ID, $t: ID) {"
        ' d: createReward(input: {name: "beta-x", type: GIFT, pointCost: 1, pointDefinitionId: $d})'
        f" {{ reward {{ id }} {NOT_FOUND_PAYLOAD} }}"
        ' t: createReward(input: {name: "beta-y", type: GIFT, pointCost: 1, minTierId: $t})'
        f" {{ reward {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"d": ids["a_definition2"], "t": ids["a_tier"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "updateReward",
        "foreign-rewards",
        "mutation($a: ID!, $b: ID!, $c: ID!) {"
        + " ".join(
            f' {alias}: updateReward(id: ${alias}, input: {{name: "hijacked", stock: 0,'
            f" enabled: false}}) {{ reward {{ id name }} {NOT_FOUND_PAYLOAD} }}"
            for alias in "abc"
        )
        + " }",
        lambda ids: {"a": ids["a_reward"], "b": ids["a_gated"], "c": ids["a_retired"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "updateReward",
        "own-reward-foreign-refs",
        "mutation($r: ID!, $d: ID, $t: ID) {"
        f" d: updateReward(id: $r, input: {{pointDefinitionId: $d}}) {{ reward {{ id }} {NOT_FOUND_PAYLOAD} }}"
        f" t: updateReward(id: $r, input: {{minTierId: $t}}) {{ reward {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["b_reward"], "d": ids["a_definition2"], "t": ids["a_tier"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "archiveReward",
        "foreign-rewards",
        "mutation($a: ID!, $b: ID!) {"
        f" a: archiveReward(id: $a) {{ reward {{ id archivedAt }} {NOT_FOUND_PAYLOAD} }}"
        f" b: archiveReward(id: $b) {{ reward {{ id archivedAt }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"a": ids["a_reward"], "b": ids["a_gated"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "deleteReward",
        "foreign-rewards",
        "mutation($a: ID!, $b: ID!) {"
        f" a: deleteReward(id: $a) {{ deleted {NOT_FOUND_PAYLOAD} }}"
        f" b: deleteReward(id: $b) {{ deleted {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"a": ids["a_unredeemed"], "b": ids["a_reward"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "attachCodePool",
        "foreign-pool",
        "mutation($r: ID!) { attachCodePool(rewardId: $r, lowStockThreshold: 99)"
        f" {{ pool {{ id size }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_pooled"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "uploadVoucherCodes",
        "foreign-pool",
        'mutation($r: ID!) { uploadVoucherCodes(rewardId: $r, codes: [{code: "ALPHA-CODE-1"},'
        ' {code: "BETA-1"}]) { pool { id size } added duplicates invalid'
        f" {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_pooled"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "generateVoucherCodes",
        "foreign-pool",
        "mutation($r: ID!) { generateVoucherCodes(rewardId: $r, input: {count: 5})"
        f" {{ pool {{ id size }} added {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_pooled"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "burnVoucherCodes",
        "foreign-pool",
        'mutation($r: ID!) { burnVoucherCodes(rewardId: $r, codes: ["ALPHA-CODE-2",'
        f' "ALPHA-CODE-1"]) {{ pool {{ id free }} burnt {NOT_FOUND_PAYLOAD} }} }}',
        lambda ids: {"r": ids["a_pooled"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "reward",
        "foreign-pool",
        "query($r: ID!) { reward(id: $r) { id codePool { size free } } }",
        lambda ids: {"r": ids["a_pooled"]},
        ALL,
        expect_null,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
