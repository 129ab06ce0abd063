"""The probe: B calls a root field with the ids of A's objects, as each of its credentials
that may call it; what the answer must be, and the check every probe runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.isolation.world import STATUSES, Body, Ids, World, snapshot
from tests.graphql_client import GraphQLClient


def _payload_errors(payload: Mapping[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


def expect_null(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    assert body["data"] and all(value is None for value in body["data"].values()), body


def expect_top_not_found(body: Body, ids: Ids) -> None:
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert codes and set(codes) == {"NOT_FOUND"}, body
    assert body["data"] is None or all(v is None for v in body["data"].values()), body


def expect_no_error(body: Body, ids: Ids) -> None:
    """A list query: it answers, with B's rows only (the marker check finds any of A's)."""
    assert "errors" not in body, body
    assert body["data"], body


def expect_empty(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    for value in body["data"].values():
        assert value["nodes"] == [], body


def expect_payload_not_found(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    for payload in body["data"].values():
        assert _payload_errors(payload) and set(_payload_errors(payload)) == {"NOT_FOUND"}, body
        rest = {k: v for k, v in payload.items() if k != "errors"}
        assert all(v in (None, False, []) for v in rest.values()), body


def expect_invalid_credentials(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    login = body["data"]["login"]
    assert _payload_errors(login) == ["INVALID_CREDENTIALS"] and login["token"] is None, body


def expect_me_is_own(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    assert body["data"]["me"]["id"] == ids["b_member"], body


def expect_new_member_of_b(body: Body, ids: Ids) -> None:
    """B's own member under the same external id: none of A's tier, points or contact."""
    assert "errors" not in body, body
    upserted = body["data"]["upsertMember"]
    assert upserted["errors"] == [], body
    member = upserted["member"]
    assert member["email"] == "beta-new@example.com" and member["tier"] is None, body
    assert member["accounts"] == [], body


def expect_new_endpoint_of_b(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    created = body["data"]["createWebhookEndpoint"]
    assert created["errors"] == [] and created["secret"], body


def expect_wrong_point_mode(body: Body, ids: Ids) -> None:
    """B follows no master in the table's world: the upload is refused before any contact is
    looked at (test_upload_naming_a_contact_of_a_is_applied_to_b_only applies one)."""
    assert "errors" not in body, body
    for payload in body["data"].values():
        assert _payload_errors(payload) == ["WRONG_POINT_MODE"] and payload["batch"] is None, body


def expect_no_origins(body: Body, ids: Ids) -> None:
    assert body == {"data": {"allowedOrigins": []}}, body


def expect_origins_of_b(body: Body, ids: Ids) -> None:
    assert body["data"]["setAllowedOrigins"] == {
        "origins": ["https://beta.example"],
        "errors": [],
    }, body


def expect_no_redemptions_counted(body: Body, ids: Ids) -> None:
    """B made no redemption: every status counts 0 (A's would show here)."""
    assert "errors" not in body, body
    assert {c["count"] for c in body["data"]["redemptionCounts"]} == {0}, body


def expect_no_endpoint_health(body: Body, ids: Ids) -> None:
    assert body == {"data": {"webhookHealth": []}}, body


def expect_wrong_password(body: Body, ids: Ids) -> None:
    assert body["data"]["changePassword"] == {
        "changed": False,
        "errors": [{"code": "INVALID_CREDENTIALS", "field": "currentPassword"}],
    }, body


def expect_new_key_of_b(body: Body, ids: Ids) -> None:
    assert "errors" not in body, body
    created = body["data"]["createApiKey"]
    assert created["errors"] == [] and created["key"].startswith("gk_"), body


@dataclass(frozen=True)
class Probe:
    field: str  # the root field this probe covers
    label: str
    document: str
    variables: Callable[[Ids], dict[str, Any]]
    callers: tuple[str, ...]  # B's credentials that may call the field at all
    expect: Callable[[Body, Ids], None]
    same_as_ghost: bool = True  # answers exactly as for ids that never existed

    @property
    def id(self) -> str:
        return f"{self.field}-{self.label}"


ALL = ("admin", "api_key", "member")
BACKEND = ("admin", "api_key")
ADMIN = ("admin",)
NOT_FOUND_PAYLOAD = "errors { code field }"
REDEMPTION_KEYS = [f"a_redemption_{s}" for s in STATUSES]


def _each_redemption(
    field_name: str, extra: str = ""
) -> tuple[str, Callable[[Ids], dict[str, Any]]]:
    """One aliased call per redemption of A (every status); they all must be NOT_FOUND."""
    params = ", ".join(f"$r{i}: ID!" for i in range(len(REDEMPTION_KEYS)))
    calls = " ".join(
        f"r{i}: {field_name}(id: $r{i}{extra}) {{ redemption {{ id status }} {NOT_FOUND_PAYLOAD} }}"
        for i in range(len(REDEMPTION_KEYS))
    )
    return f"mutation({params}) {{ {calls} }}", lambda ids: {
        f"r{i}": ids[key] for i, key in enumerate(REDEMPTION_KEYS)
    }


def _each(field_name: str, arg: str, keys: list[str], selection: str) -> tuple[str, Any]:
    """One aliased call per id of A; they all must be NOT_FOUND."""
    params = ", ".join(f"$v{i}: ID!" for i in range(len(keys)))
    calls = " ".join(
        f"c{i}: {field_name}({arg}: $v{i}) {{ {selection} {NOT_FOUND_PAYLOAD} }}"
        for i in range(len(keys))
    )
    return f"mutation({params}) {{ {calls} }}", lambda ids: {
        f"v{i}": ids[key] for i, key in enumerate(keys)
    }


DELIVERY_KEYS = ["a_delivery_delivered", "a_delivery_dead", "a_delivery_pending"]
_COMPLETE = _each_redemption("completeRedemption", ", status: FAILED")
_CONFIRM = _each_redemption("confirmRedemption", ', data: {code: "HIJACK"}')
_CANCEL = _each_redemption("cancelRedemption", ', reason: "hijack"')


def _credential(world: World, caller: str) -> str:
    return {
        "admin": world.b.admin_token,
        "api_key": world.b.api_key,
        "member": world.b_member_token,
    }[caller]


def _assert_nothing_of_a(body: Body, world: World, what: str) -> None:
    leaked = world.leaks(body)
    assert not leaked, f"{what} leaks {leaked}: {body}"
    assert "FORBIDDEN" not in json.dumps(body), f"{what} answers FORBIDDEN: {body}"


async def check_probe(gql: GraphQLClient, world: World, probe: Probe) -> None:
    before = await snapshot(gql, world)

    for caller in probe.callers:
        # when B calls the field with the ids of A's objects
        token = _credential(world, caller)
        body = await gql(probe.document, probe.variables(world.ids), token)

        # then it answers null / empty / NOT_FOUND, with nothing of A in it
        what = f"{probe.id} as B's {caller}"
        probe.expect(body, world.ids)
        _assert_nothing_of_a(body, world, what)
        # and exactly as it answers for ids that never existed
        if probe.same_as_ghost:
            ghost = await gql(probe.document, probe.variables(world.ghost_ids()), token)
            assert body == ghost, f"{what}: A's ids answer differently from unknown ids"

    # then A's data is as it was (and A's API key still works)
    assert await snapshot(gql, world) == before


def probe_test(probes: list[Probe]) -> Callable[..., Any]:
    """A domain module's test: every probe of its table, one test each."""

    @pytest.mark.parametrize("probe", probes, ids=lambda p: p.id)
    async def test_tenant_b_cannot_reach_tenant_a(
        gql: GraphQLClient, world: World, probe: Probe
    ) -> None:
        # given tenant A's world, and tenant B with its own member, reward and tier
        # when B calls the field with A's ids, then nothing of A is reached or changed
        await check_probe(gql, world, probe)

    return test_tenant_b_cannot_reach_tenant_a
