"""Tenant B probing redemptions and their lifecycle of tenant A."""

from __future__ import annotations

import pytest

from tests.api.isolation.probes import (
    _CANCEL,
    _COMPLETE,
    _CONFIRM,
    ADMIN,
    ALL,
    NOT_FOUND_PAYLOAD,
    REDEMPTION_KEYS,
    Probe,
    expect_empty,
    expect_no_error,
    expect_no_redemptions_counted,
    expect_null,
    expect_payload_not_found,
    expect_top_not_found,
    probe_test,
)

pytestmark = pytest.mark.module_world

PROBES: list[Probe] = [
    Probe(
        "redemptions",
        "list",
        "{ redemptions { nodes { id status member { id } reward { id name } } } }",
        lambda ids: {},
        ALL,
        expect_no_error,
    ),
    Probe(
        "redemptions",
        "foreign-member",
        "query($m: ID) { redemptions(filter: {memberId: $m}) { nodes { id } } }",
        lambda ids: {"m": ids["a_member"]},
        ALL,
        expect_top_not_found,
    ),
    Probe(
        "redemptions",
        "foreign-reward",
        "query($r: ID) { redemptions(filter: {rewardId: $r}) { nodes { id } } }",
        lambda ids: {"r": ids["a_reward"]},
        ALL,
        expect_empty,
    ),
    Probe(
        "redemption",
        "every-status",
        "query("
        + ", ".join(f"$r{i}: ID!" for i in range(len(REDEMPTION_KEYS)))
        + ") { "
        + " ".join(
            f"r{i}: redemption(id: $r{i}) {{ id status }}" for i in range(len(REDEMPTION_KEYS))
        )
        + " }",
        lambda ids: {f"r{i}": ids[k] for i, k in enumerate(REDEMPTION_KEYS)},
        ALL,
        expect_null,
    ),
    Probe(
        "redeemReward",
        "foreign-reward-and-member",
        "mutation($ar: ID!, $rr: ID!, $br: ID!, $own: ID, $am: ID, $ae: String) {"
        ' reward: redeemReward(rewardId: $ar, memberId: $own, idempotencyKey: "k-1")'
        f" {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }}"
        " archived: redeemReward(rewardId: $rr, memberId: $own)"
        f" {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }}"
        f" member: redeemReward(rewardId: $br, memberId: $am) {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }}"
        f" ext: redeemReward(rewardId: $br, externalUserId: $ae) {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {
            "ar": ids["a_reward"],
            "rr": ids["a_retired"],
            "br": ids["b_reward"],
            "own": ids["b_member"],
            "am": ids["a_member"],
            "ae": ids["a_member_ext"],
        },
        ALL,
        expect_payload_not_found,
    ),
    Probe("completeRedemption", "every-status", *_COMPLETE, ("api_key",), expect_payload_not_found),
    Probe("confirmRedemption", "every-status", *_CONFIRM, ADMIN, expect_payload_not_found),
    Probe("cancelRedemption", "every-status", *_CANCEL, ADMIN, expect_payload_not_found),
    Probe(
        "redemptionCounts",
        "today",
        "{ redemptionCounts { status count } }",
        lambda ids: {},
        ADMIN,
        expect_no_redemptions_counted,
    ),
]


test_tenant_b_cannot_reach_tenant_a = probe_test(PROBES)
