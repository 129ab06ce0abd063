"""Tenant isolation and member isolation: a foreign id is "not found", never "forbidden".

Tenant A has a full world (rewards, tiers, point definitions, members with points,
redemptions in every status, API keys). Every Query and Mutation field is probed by
tenant B (admin token, API key, member token) with the ids of A's objects. Each probe
must (1) answer null / an empty list / NOT_FOUND, (2) contain nothing of A, (3) answer
exactly what it answers for ids that never existed (no existence leak), and (4) leave
A's data as it was. A meta-test keeps the probe table in step with schema.graphql.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import graphql
import pytest

from core import clock
from models import tenancy
from models.catalog import archive_reward
from models.lifecycle import Via, transition
from models.membership import save_point_definition
from models.origins import set_tenant_origins
from models.pointmaster import SyncBatch, SyncKind
from models.redeem import RedeemRequest, redeem
from models.redemptions import RedemptionStatus
from models.webhook_endpoints import create_endpoint
from models.webhooks import DeliveryStatus, PayloadFormat, WebhookDelivery, WebhookEvent
from schema.root import schema
from tests.factories import default_definition, make_member, make_reward, make_tier
from tests.graphql_client import GraphQLClient, TenantSession, open_tenant
from workers.sync import apply_sync_batch

Ids = Mapping[str, str]
Body = dict[str, Any]
STATUSES = [s.value for s in RedemptionStatus]

# --------------------------------------------------------------------------- the worlds


@dataclass
class World:
    a: TenantSession
    b: TenantSession
    b_member_token: str
    ids: dict[str, str]  # "a_*" are tenant A's; the rest are B's own
    markers: set[str] = field(default_factory=set)  # values only A's data contains

    def leaks(self, body: Body) -> list[str]:
        """A's values found in a response: ids, emails... as whole JSON strings, and any
        name, email or description of A (they all start with "alpha-")."""
        text = json.dumps(body)
        found = sorted(m for m in self.markers if json.dumps(m) in text)
        return found + (["alpha-"] if "alpha-" in text else [])

    def ghost_ids(self) -> dict[str, str]:
        """The same ids, with A's replaced by ones that never existed."""
        ghosts = {}
        for key, value in self.ids.items():
            if not key.startswith("a_"):
                ghosts[key] = value
            elif key.endswith("_ext"):
                ghosts[key] = f"ghost-ext-{uuid.uuid4().hex[:8]}"
            elif key.endswith("_email"):
                ghosts[key] = f"ghost-{uuid.uuid4().hex[:8]}@nowhere.test"
            else:
                ghosts[key] = str(uuid.uuid4())
        return ghosts


async def _redeemed(tenant_id: uuid.UUID, member_id: uuid.UUID, reward_id: uuid.UUID) -> str:
    redemption = await redeem(
        RedeemRequest(tenant_id=tenant_id, member_id=member_id, reward_id=reward_id)
    )
    return str(redemption.id)


async def build_world(gql: GraphQLClient) -> World:
    a = await open_tenant(gql)
    b = await open_tenant(gql)
    ta, tb = uuid.UUID(a.tenant_id), uuid.UUID(b.tenant_id)

    # Tenant A: tiers, a second currency, rewards (one gated, one later archived),
    # two members with points, redemptions in every status, a second API key.
    gold = await make_tier(ta, "alpha-gold", 10)
    silver = await make_tier(ta, "alpha-silver", 5)
    tokens = await save_point_definition(ta, None, "alpha-tokens", "alpha currency")
    points = await default_definition(ta)
    voucher = await make_reward(
        ta, name="alpha-voucher", point_cost=100, stock=20, fulfillment_data={"sku": "alpha-sku"}
    )
    gated = await make_reward(ta, name="alpha-gated", point_cost=50, stock=5, min_tier_id=gold.id)
    await set_tenant_origins(ta, ["https://alpha-shop.example"])
    retired = await make_reward(ta, name="alpha-retired", point_cost=10)
    m1 = await make_member(ta, points=5000, tier=gold, email="alpha-m1@example.com")
    m2 = await make_member(ta, points=3000, tier=silver, email="alpha-m2@example.com")
    hook = await create_endpoint(
        ta,
        "http://127.0.0.1:9/alpha-hook",
        [WebhookEvent.REWARD_REDEEMED.value, WebhookEvent.REDEMPTION_STATUS_CHANGED.value],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )

    by_status: dict[str, str] = {}
    for status in STATUSES:
        by_status[status] = await _redeemed(ta, m1.id, voucher.id)
    actor = "admin:setup"
    for status, via in [
        ("POSTPONED", Via.CALLBACK),
        ("RECOVERABLE_FAILURE", Via.CALLBACK),
        ("FULFILLED", Via.ADMIN),
        ("FAILED", Via.ADMIN),
    ]:
        await transition(
            ta, uuid.UUID(by_status[status]), RedemptionStatus(status), via, actor=actor
        )
    gated_redemption = await _redeemed(ta, m1.id, gated.id)
    m2_redemption = await _redeemed(ta, m2.id, voucher.id)
    m2_retired = await _redeemed(ta, m2.id, retired.id)
    await archive_reward(ta, retired.id)
    second_key, _ = await tenancy.create_api_key(ta, "alpha-second-key")
    deliveries = [d.id for d in await WebhookDelivery.filter(tenant_id=ta).order_by("created_at")]
    assert len(deliveries) >= 3
    # As the worker would leave them: one delivered, one dead, the rest pending.
    await WebhookDelivery.filter(id=deliveries[0]).update(
        status=DeliveryStatus.DELIVERED, attempt_count=1, last_status_code=200
    )
    await WebhookDelivery.filter(id=deliveries[1]).update(
        status=DeliveryStatus.DEAD, attempt_count=8, last_status_code=500, next_attempt_at=None
    )
    batch = await SyncBatch.create(
        id=uuid.uuid4(),
        tenant_id=ta,
        kind=SyncKind.BALANCES,
        items=[],
        item_count=0,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    listed = await gql("{ apiKeys { id } }", token=a.admin_token)
    first_key = next(k["id"] for k in listed["data"]["apiKeys"] if k["id"] != str(second_key.id))

    # Tenant B: a member (with a token), a reward and a tier of its own.
    b_tier = await make_tier(tb, "beta-tier", 1)
    b_reward = await make_reward(tb, name="beta-reward", point_cost=10, stock=100)
    b_member = await make_member(tb, points=1000, tier=b_tier, email="beta-m@example.com")
    minted = await gql(
        "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }",
        {"id": str(b_member.id)},
        b.api_key,
    )

    ids = {
        "a_reward": str(voucher.id),
        "a_gated": str(gated.id),
        "a_retired": str(retired.id),
        "a_tier": str(gold.id),
        "a_tier2": str(silver.id),
        "a_definition": str(points.id),
        "a_definition2": str(tokens.id),
        "a_member": str(m1.id),
        "a_member_ext": m1.external_user_id,
        "a_member2": str(m2.id),
        "a_member2_ext": m2.external_user_id,
        "a_member_email": "alpha-m1@example.com",
        "a_admin_email": a.admin_email,
        "a_api_key": str(second_key.id),
        "a_api_key2": first_key,
        "a_redemption_gated": gated_redemption,
        "a_redemption_m2": m2_redemption,
        "a_redemption_retired": m2_retired,
        **{f"a_redemption_{s}": rid for s, rid in by_status.items()},
        "a_endpoint": str(hook.endpoint.id),
        "a_delivery_delivered": str(deliveries[0]),
        "a_delivery_dead": str(deliveries[1]),
        "a_delivery_pending": str(deliveries[2]),
        "a_batch": str(batch.id),
        "b_member": str(b_member.id),
        "b_reward": str(b_reward.id),
        "b_tier": str(b_tier.id),
    }
    world = World(a, b, minted["data"]["createMemberToken"]["token"], ids)
    world.markers = {v for k, v in ids.items() if k.startswith("a_")} | {
        a.tenant_id,
        second_key.prefix,
        hook.secret,
        "alpha-shop.example",
    }
    return world


# ------------------------------------------------------------------ A's data, seen by A

SNAPSHOT_CATALOG = """
{
  rewards(includeArchived: true) {
    nodes {
      id name description type value pointCost stock cooldownSeconds perMemberLimit
      availableFrom availableUntil fulfillmentData publicData imageUrl enabled archivedAt
      updatedAt
      pointDefinition { id name } minTier { id }
    }
  }
  tiers { id name rank }
  allowedOrigins
  pointDefinitions { id name description externalId isDefault pointMode effectivePointMode }
  pointMasterSettings {
    pointsLogUrl pointsLogAuthHeader pointsLogAuthValue pointsLogTimeoutMs
    pointsLogCacheSeconds adjustmentUrl adjustmentEndpointId updatedAt
    keys { keyId current retiredAt }
  }
  apiKeys { id name prefix revokedAt }
  pointModeChanges { id newMode }
  webhookEndpoints { id url events payloadFormat enabled previousSecretValidUntil }
  webhookDeliveries {
    nodes { id endpointId status attemptCount nextAttemptAt lastStatusCode payload }
  }
}"""
SNAPSHOT_MEMBERS = """
{
  members {
    nodes {
      id externalUserId email name address tier { id }
      accounts { id balance pending pointDefinition { id } }
    }
  }
  redemptions {
    nodes {
      id status quantity pointsSpent fulfillmentData reason refundedAt updatedAt
      events { id kind }
    }
  }
}"""
SNAPSHOT_LEDGER = "query($m: ID) { ledger(memberId: $m) { nodes { id amount balanceAfter } } }"


async def snapshot(gql: GraphQLClient, world: World) -> dict[str, Any]:
    """Everything of A that a probe could have changed; read with A's own credentials.

    Reading members, redemptions and ledgers with A's API key also proves the key still works.
    """
    taken = {
        "catalog": await gql(SNAPSHOT_CATALOG, token=world.a.admin_token),
        "members": await gql(SNAPSHOT_MEMBERS, token=world.a.api_key),
    }
    for key in ("a_member", "a_member2"):
        taken[key] = await gql(SNAPSHOT_LEDGER, {"m": world.ids[key]}, world.a.api_key)
    for name, body in taken.items():
        assert "errors" not in body, (name, body)
    return taken


# ------------------------------------------------------------------------ expectations


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


# --------------------------------------------------------------------------- the table


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

PROBES: list[Probe] = [
    # ---- queries
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
    Probe("tiers", "list", "{ tiers { id name rank } }", lambda ids: {}, ALL, expect_no_error),
    Probe(
        "allowedOrigins",
        "own-only",
        "{ allowedOrigins }",
        lambda ids: {},
        ADMIN,
        expect_no_origins,
    ),
    Probe(
        "setAllowedOrigins",
        "own-tenant-only",
        'mutation { setAllowedOrigins(origins: ["https://beta.example"]) { origins errors { code } } }',
        lambda ids: {},
        ADMIN,
        expect_origins_of_b,
    ),
    Probe(
        "pointDefinitions",
        "list",
        "{ pointDefinitions { id name externalId } }",
        lambda ids: {},
        ALL,
        expect_no_error,
    ),
    Probe(
        "apiKeys", "list", "{ apiKeys { id name prefix } }", lambda ids: {}, ADMIN, expect_no_error
    ),
    # ---- mutations
    Probe(
        "login",
        "foreign-admin-wrong-password",
        'mutation($e: String!) { login(email: $e, password: "not-the-password")'
        " { token expiresAt errors { code field } } }",
        lambda ids: {"e": ids["a_admin_email"]},
        ADMIN,
        expect_invalid_credentials,
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
        "createApiKey",
        "own-tenant-only",
        'mutation { createApiKey(name: "beta-extra") { key apiKey { id } errors { code } } }',
        lambda ids: {},
        ADMIN,
        expect_new_key_of_b,
        same_as_ghost=False,
    ),
    Probe(
        "revokeApiKey",
        "foreign-keys",
        "mutation($k: ID!, $k2: ID!) {"
        f" k1: revokeApiKey(id: $k) {{ apiKey {{ id revokedAt }} {NOT_FOUND_PAYLOAD} }}"
        f" k2: revokeApiKey(id: $k2) {{ apiKey {{ id revokedAt }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"k": ids["a_api_key"], "k2": ids["a_api_key2"]},
        ADMIN,
        expect_payload_not_found,
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
    # ---- webhooks
    Probe(
        "webhookEndpoints",
        "list",
        "{ webhookEndpoints { id url events } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "webhookDeliveries",
        "list",
        "{ webhookDeliveries { nodes { id endpointId redemptionId payload status } } }",
        lambda ids: {},
        ADMIN,
        expect_no_error,
    ),
    Probe(
        "webhookDeliveries",
        "foreign-endpoint-and-redemption",
        "query($e: ID, $r: ID) {"
        " byEndpoint: webhookDeliveries(filter: {endpointId: $e}) { nodes { id payload } }"
        " byRedemption: webhookDeliveries(filter: {redemptionId: $r}) { nodes { id payload } } }",
        lambda ids: {"e": ids["a_endpoint"], "r": ids["a_redemption_REDEEMED"]},
        ADMIN,
        expect_empty,
    ),
    Probe(
        "createWebhookEndpoint",
        "own-tenant-only",
        'mutation { createWebhookEndpoint(input: {url: "https://8.8.8.8/beta-hook"})'
        " { endpoint { id url } secret errors { code field } } }",
        lambda ids: {},
        ADMIN,
        expect_new_endpoint_of_b,
        same_as_ghost=False,
    ),
    Probe(
        "updateWebhookEndpoint",
        "foreign-endpoint",
        "mutation($e: ID!) { updateWebhookEndpoint(id: $e, input: {enabled: false,"
        f' events: ["reward_redeemed"], payloadFormat: TOOLZZ}}) {{ endpoint {{ id }} secret {NOT_FOUND_PAYLOAD} }} }}',
        lambda ids: {"e": ids["a_endpoint"]},
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "deleteWebhookEndpoint",
        "foreign-endpoint",
        *_each("deleteWebhookEndpoint", "id", ["a_endpoint"], "deleted"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "rotateWebhookSecret",
        "foreign-endpoint",
        *_each("rotateWebhookSecret", "id", ["a_endpoint"], "endpoint { id } secret"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "pingWebhookEndpoint",
        "foreign-endpoint",
        *_each("pingWebhookEndpoint", "id", ["a_endpoint"], "deliveries { id payload }"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "replayDelivery",
        "every-status",
        *_each("replayDelivery", "id", DELIVERY_KEYS, "deliveries { id status payload }"),
        ADMIN,
        expect_payload_not_found,
    ),
    Probe(
        "replayDeliveries",
        "foreign-endpoint",
        'mutation($e: ID!) { replayDeliveries(endpointId: $e, since: "2000-01-01T00:00:00+00:00")'
        f" {{ deliveries {{ id payload }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"e": ids["a_endpoint"]},
        ADMIN,
        expect_payload_not_found,
    ),
    # ---- point-master sync: B's admin reads and switches B's own mode, never A's
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
    # ---- the admin console's dashboard and own account
    Probe(
        "members",
        "search-for-a",
        "query($e: String!, $x: String!) { byEmail: members(search: $e) { nodes { id } }"
        " byExt: members(search: $x) { nodes { id } } }",
        lambda ids: {"e": ids["a_member_email"], "x": ids["a_member_ext"]},
        BACKEND,
        expect_empty,
    ),
    Probe(
        "syncBatches",
        "list",
        "{ syncBatches { nodes { id status itemCount } } }",
        lambda ids: {},
        ADMIN,
        expect_empty,
    ),
    Probe(
        "redemptionCounts",
        "today",
        "{ redemptionCounts { status count } }",
        lambda ids: {},
        ADMIN,
        expect_no_redemptions_counted,
    ),
    Probe(
        "webhookHealth",
        "last-day",
        "{ webhookHealth { endpoint { id url } delivered retrying pending dead } }",
        lambda ids: {},
        ADMIN,
        expect_no_endpoint_health,
    ),
    Probe(
        "changePassword",
        "wrong-current",
        'mutation { changePassword(currentPassword: "not-it-at-all", newPassword:'
        ' "a-new-password-1") { changed errors { code field } } }',
        lambda ids: {},
        ADMIN,
        expect_wrong_password,
    ),
]


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


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
async def test_tenant_b_cannot_reach_tenant_a(gql: GraphQLClient, probe: Probe) -> None:
    # given tenant A's world, and tenant B with its own member, reward and tier
    world = await build_world(gql)
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


async def test_tenant_a_sees_its_world(gql: GraphQLClient) -> None:
    """The probes above prove something only if A's own credentials do see the data."""
    # given
    world = await build_world(gql)
    # when
    taken = await snapshot(gql, world)
    by_a = await gql(
        "query($r: ID!, $m: ID) { reward(id: $r) { name } member(id: $m) { email } }",
        {"r": world.ids["a_retired"], "m": world.ids["a_member"]},
        world.a.api_key,
    )
    # then
    catalog = taken["catalog"]["data"]
    assert {r["name"] for r in catalog["rewards"]["nodes"]} == {
        "alpha-voucher",
        "alpha-gated",
        "alpha-retired",
    }
    assert {t["name"] for t in catalog["tiers"]} == {"alpha-gold", "alpha-silver"}
    assert catalog["allowedOrigins"] == ["https://alpha-shop.example"]
    assert len(catalog["apiKeys"]) == 2 and len(catalog["pointDefinitions"]) == 2
    assert [e["id"] for e in catalog["webhookEndpoints"]] == [world.ids["a_endpoint"]]
    delivery_states = {d["id"]: d["status"] for d in catalog["webhookDeliveries"]["nodes"]}
    assert delivery_states[world.ids["a_delivery_dead"]] == "DEAD"
    assert delivery_states[world.ids["a_delivery_delivered"]] == "DELIVERED"
    statuses = [r["status"] for r in taken["members"]["data"]["redemptions"]["nodes"]]
    assert set(statuses) == set(STATUSES)
    assert by_a["data"] == {
        "reward": {"name": "alpha-retired"},
        "member": {"email": "alpha-m1@example.com"},
    }


# ------------------------------------------------------------ member M1 probing member M2

M1_PROBES: list[tuple[str, str, Callable[[Ids], dict[str, Any]], Callable[[Body, Ids], None]]] = [
    (
        "member-by-id",
        "query($m: ID) { member(id: $m) { id email } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_null,
    ),
    (
        "member-by-ext",
        "query($e: String) { member(externalUserId: $e) { id email } }",
        lambda ids: {"e": ids["a_member2_ext"]},
        expect_null,
    ),
    (
        "ledger",
        "query($m: ID) { ledger(memberId: $m) { nodes { id amount } } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_top_not_found,
    ),
    (
        "ledger-by-ext",
        "query($e: String) { ledger(externalUserId: $e) { nodes { id amount } } }",
        lambda ids: {"e": ids["a_member2_ext"]},
        expect_top_not_found,
    ),
    (
        "redemption",
        "query($a: ID!, $b: ID!) { a: redemption(id: $a) { id status }"
        " b: redemption(id: $b) { id status } }",
        lambda ids: {"a": ids["a_redemption_m2"], "b": ids["a_redemption_retired"]},
        expect_null,
    ),
    (
        "redemptions",
        "query($m: ID) { redemptions(filter: {memberId: $m}) { nodes { id } } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_top_not_found,
    ),
    (
        "redeem",
        "mutation($r: ID!, $m: ID, $e: String) {"
        f" byId: redeemReward(rewardId: $r, memberId: $m) {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }}"
        f" byExt: redeemReward(rewardId: $r, externalUserId: $e) {{ redemption {{ id }} {NOT_FOUND_PAYLOAD} }} }}",
        lambda ids: {"r": ids["a_reward"], "m": ids["a_member2"], "e": ids["a_member2_ext"]},
        expect_payload_not_found,
    ),
    (
        "catalog",
        "query($m: ID) { catalog(memberId: $m) { nodes { reward { id } canRedeem reason } } }",
        lambda ids: {"m": ids["a_member2"]},
        expect_top_not_found,
    ),
]


async def _member_token(gql: GraphQLClient, world: World, member_key: str) -> str:
    body = await gql(
        "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }",
        {"id": world.ids[member_key]},
        world.a.api_key,
    )
    token: str = body["data"]["createMemberToken"]["token"]
    return token


M2_VIEW = """
query($m: ID) {
  member(id: $m) { accounts { balance pending } }
  redemptions(filter: {memberId: $m}) { nodes { id status pointsSpent } }
}"""


@pytest.mark.parametrize("case", M1_PROBES, ids=lambda c: c[0])
async def test_member_cannot_reach_another_member(gql: GraphQLClient, case: Any) -> None:
    # given members M1 and M2 of the same tenant, M2 with points and redemptions
    _, document, variables, expect = case
    world = await build_world(gql)
    m1_token = await _member_token(gql, world, "a_member")
    m2_before = await gql(M2_VIEW, {"m": world.ids["a_member2"]}, world.a.api_key)

    # when M1 asks about M2
    body = await gql(document, variables(world.ids), m1_token)

    # then nothing of M2 comes back, exactly as for a member that does not exist
    expect(body, world.ids)
    text = json.dumps(body)
    m2_values = [v for k, v in world.ids.items() if "member2" in k or k.endswith("_m2")]
    assert not [v for v in m2_values if v in text], body
    assert "alpha-m2" not in text and "FORBIDDEN" not in text, body
    ghost = await gql(document, variables(world.ghost_ids()), m1_token)
    assert body == ghost
    # and M2's balance and redemptions are unchanged
    m2_after = await gql(M2_VIEW, {"m": world.ids["a_member2"]}, world.a.api_key)
    assert m2_after == m2_before
    assert m2_before["data"]["member"]["accounts"][0]["balance"] > 0


async def test_member_lists_only_its_own(gql: GraphQLClient) -> None:
    # given M1 and M2 both with redemptions and ledger entries
    world = await build_world(gql)
    m1_token = await _member_token(gql, world, "a_member")
    # when M1 lists without naming anyone
    body = await gql(
        "{ me { id } redemptions { nodes { id member { id } } } ledger { nodes { id } }"
        " catalog { nodes { reward { name } canRedeem } } }",
        token=m1_token,
    )
    # then only M1's redemptions come back, and the catalog is answered for M1
    assert "errors" not in body, body
    owners = {r["member"]["id"] for r in body["data"]["redemptions"]["nodes"]}
    assert owners == {world.ids["a_member"]}
    assert len(body["data"]["redemptions"]["nodes"]) == len(STATUSES) + 1
    assert body["data"]["me"]["id"] == world.ids["a_member"]
    assert body["data"]["ledger"]["nodes"]
    gated = {n["reward"]["name"]: n["canRedeem"] for n in body["data"]["catalog"]["nodes"]}
    assert gated == {"alpha-voucher": True, "alpha-gated": True}


# ------------------------------------------------------------------------- the meta-test


def _root_fields() -> set[str]:
    parsed = graphql.build_schema(str(schema))
    assert parsed.query_type is not None and parsed.mutation_type is not None
    return set(parsed.query_type.fields) | set(parsed.mutation_type.fields)


def test_every_query_and_mutation_is_probed() -> None:
    # given the fields the API serves
    served = _root_fields()
    # when compared with the fields the isolation table probes
    probed = {probe.field for probe in PROBES}
    # then every field is probed, and the table names no field that is gone
    assert served - probed == set(), f"add isolation probes for {sorted(served - probed)}"
    assert probed - served == set(), f"stale isolation probes {sorted(probed - served)}"


TENANT_ONLY_VIEW = """
query($r: ID!) {
  reward(id: $r) { fulfillmentData }
  catalog { nodes { reward { name fulfillmentData } } }
  redemptions { nodes { status fulfillmentData events { kind data } } }
}"""


async def test_member_never_reads_what_only_the_tenant_sees(gql: GraphQLClient) -> None:
    # given tenant A's world: a reward carrying fulfilment data for the tenant's backend,
    # and member M1's redemptions in every status, webhooks posted for some
    world = await build_world(gql)
    m1_token = await _member_token(gql, world, "a_member")
    # when M1 reads the reward, the catalog and its redemptions with their timelines
    body = await gql(TENANT_ONLY_VIEW, {"r": world.ids["a_reward"]}, m1_token)
    by_tenant = await gql(TENANT_ONLY_VIEW, {"r": world.ids["a_reward"]}, world.a.api_key)
    # then the reward's fulfilment data never shows, nor any webhook body or answer
    assert "errors" not in body, body
    assert body["data"]["reward"] == {"fulfillmentData": None}
    assert {n["reward"]["fulfillmentData"] for n in body["data"]["catalog"]["nodes"]} == {None}
    text = json.dumps(body)
    assert "alpha-sku" not in text and "alpha-hook" not in text, body
    unfulfilled = [r for r in body["data"]["redemptions"]["nodes"] if r["status"] != "FULFILLED"]
    assert unfulfilled and all(r["fulfillmentData"] is None for r in unfulfilled)
    # while the tenant's backend reads the same objects in full
    assert by_tenant["data"]["reward"] == {"fulfillmentData": {"sku": "alpha-sku"}}


UPLOADS = {
    "FOLLOWER_BALANCE": "uploadPointBalances(items: [{contactId: $e, amount: 777,"
    ' definitionId: 1, timeStamp: "2031-01-01T00:00:00Z"}])',
    "FOLLOWER_TRANSACTIONS": "uploadPointTransactions(items: [{contactId: $e, amount: 777,"
    ' definitionId: 1, timeStamp: "2031-01-01T00:00:00Z", source: "Purchase"}])',
}


@pytest.mark.parametrize("mode", sorted(UPLOADS))
async def test_upload_naming_a_contact_of_a_is_applied_to_b_only(
    gql: GraphQLClient, mode: str
) -> None:
    # given tenant A's world, and tenant B following a point master
    world = await build_world(gql)
    switched = await gql(
        f'mutation {{ setPointMode(mode: {mode}, reason: "probe") {{ errors {{ code }} }} }}',
        token=world.b.admin_token,
    )
    assert switched["data"]["setPointMode"]["errors"] == []
    before = await snapshot(gql, world)
    # when B's master uploads points for the contact id that is A's member's
    uploaded = await gql(
        f"mutation($e: String!) {{ {UPLOADS[mode]} {{ batch {{ id }} errors {{ code }} }} }}",
        {"e": world.ids["a_member_ext"]},
        world.b.api_key,
    )
    payload = next(iter(uploaded["data"].values()))
    assert payload["errors"] == [], uploaded
    # and a worker applies the batch
    status = await apply_sync_batch({}, payload["batch"]["id"])
    # then B got a member of its own under that id, with the points
    assert status == "Completed"
    b_member = await gql(
        "query($e: String) { member(externalUserId: $e) { email accounts { balance } } }",
        {"e": world.ids["a_member_ext"]},
        world.b.api_key,
    )
    assert b_member["data"]["member"] == {"email": None, "accounts": [{"balance": 777}]}
    # and nothing of A changed, nor shows in B's answers
    assert await snapshot(gql, world) == before
    _assert_nothing_of_a(uploaded, world, f"upload in {mode}")
    _assert_nothing_of_a(b_member, world, f"B's member after the {mode} upload")
