"""Tenant B probing the point master: modes, settings, keys, logs, adjustments, uploads of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    ADMIN,
    ALL,
    BACKEND,
    NOT_FOUND_PAYLOAD,
    Probe,
    expect_empty,
    expect_no_error,
    expect_null,
    expect_payload_not_found,
    expect_top_not_found,
    expect_wrong_point_mode,
    probe_test,
)

pytestmark = pytest.mark.module_world

PROBES: list[Probe] = [
    Probe(
        "pointModeChanges",
        "list",
        "{ pointModeChanges { id oldMode newMode actor reason } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "setPointMode",
        "own-tenant",
        'mutation { setPointMode(mode: FOLLOWER_BALANCE, reason: "probe") { mode errors { code } } }',
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "setPointMode",
        "foreign-definition",
        'mutation($d: ID) { setPointMode(mode: MASTER, pointDefinitionId: $d, reason: "probe")'
        f" {{ mode pointDefinition {{ id }} change {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"d": ids["a_definition2"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "pointMasterSettings",
        "own-tenant",
        "{ pointMasterSettings { pointsLogUrl pointsLogAuthValue adjustmentUrl keys { keyId } } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "setPointMasterSettings",
        "own-tenant",
        "mutation { setPointMasterSettings(input: {pointsLogCacheSeconds: 30})"
        " { settings { pointsLogCacheSeconds } errors { code } } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "rotatePointMasterKey",
        "own-tenant",
        "mutation { rotatePointMasterKey { key { current } errors { code } } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    # pointsLog is non-null: one alias per probe, or which error nulls `data` first is a race
    Probe(
        "pointsLog",
        "foreign-member",
        "query($m: ID) { pointsLog(memberId: $m) { contactId entries { amount } } }",
        lambda ids: {"m": ids["a_member"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "pointsLog",
        "foreign-external-id",
        "query($e: String) { pointsLog(externalUserId: $e) { contactId entries { amount } } }",
        lambda ids: {"e": ids["a_member_ext"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "pointAdjustments",
        "foreign-member",
        "query($m: ID) { pointAdjustments(memberId: $m) { nodes { id } } }",
        lambda ids: {"m": ids["a_member"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "adjustPoints",
        "foreign-member-and-definition",
        "mutation($m: ID, $e: String, $own: ID, $d: ID) {"
        f" byId: adjustPoints(input: {{memberId: $m, amount: 10}}) {{ applied adjustment {{ id }} {NOT_FOUND_PAYLOAD} }}"
        f" byExt: adjustPoints(input: {{externalUserId: $e, amount: -10}}) {{ applied {NOT_FOUND_PAYLOAD} }}"
        " byDef: adjustPoints(input: {memberId: $own, pointDefinitionId: $d, amount: 10})"
        f" {{ applied account {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
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
        "uploadPointBalances",
        "contact-of-a",
        "mutation($e: String!) { uploadPointBalances(items: [{contactId: $e, amount: 1,"
        ' definitionId: 1, timeStamp: "2031-01-01T00:00:00Z"}]) { batch { id } errors { code } } }',
        lambda ids: {"e": ids["a_member_ext"]},
        BACKEND,
        expect_wrong_point_mode,
    ),
    Probe(
        "uploadPointTransactions",
        "contact-of-a",
        "mutation($e: String!) { uploadPointTransactions(items: [{contactId: $e, amount: 1,"
        ' definitionId: 1, timeStamp: "2031-01-01T00:00:00Z"}]) { batch { id } errors { code } } }',
        lambda ids: {"e": ids["a_member_ext"]},
        BACKEND,
        expect_wrong_point_mode,
    ),
    Probe(
        "syncBatch",
        "foreign-batch",
        "query($id: ID!) { syncBatch(id: $id) { id status messages { message } } }",
        lambda ids: {"id": ids["a_batch"]},
        BACKEND,
        expect_null,
    ),
    Probe(
        "syncBatches",
        "list",
        "{ syncBatches { nodes { id status itemCount } } }",
        lambda ids: {},
        ADMIN,
        expect_empty,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
