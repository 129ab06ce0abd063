"""The two tenants of the isolation tests: A's full world, built once per test module (the
probes must leave it as it was, and each test checks they did), and a fresh tenant B per
test, whose own data the probes may change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import clock
from models.catalog.code_pools import CodeEntry, add_codes, attach_pool
from models.catalog.rewards import archive_reward
from models.members.upserts import save_point_definition
from models.pointmaster.tables import SyncBatch, SyncKind
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import RedemptionStatus
from models.tenancy import access as tenancy
from models.tenancy.origins import set_tenant_origins
from models.webhooks.endpoints import create_endpoint, set_expiring_soon_days
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookDelivery, WebhookEvent
from tests.factories import default_definition, make_member, make_reward, make_tier
from tests.graphql_client import GraphQLClient, TenantSession, open_tenant
from tests.programme.rules import make_rule, track

Ids = Mapping[str, str]
Body = dict[str, Any]
STATUSES = [s.value for s in RedemptionStatus]
ALPHA_CODES = ["ALPHA-CODE-1", "ALPHA-CODE-2", "ALPHA-CODE-3"]

ALPHA_EXPIRING_SOON_DAYS = 30  # B keeps the default (7): a probe seeing 30 reached A


@dataclass(frozen=True)
class Alpha:
    """Tenant A: its credentials, the ids of its objects ("a_*"), and values only its data
    contains."""

    a: TenantSession
    ids: dict[str, str]
    markers: frozenset[str]


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


async def build_alpha(gql: GraphQLClient) -> Alpha:
    a = await open_tenant(gql)
    ta = uuid.UUID(a.tenant_id)

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
    await set_expiring_soon_days(ta, ALPHA_EXPIRING_SOON_DAYS)
    retired = await make_reward(ta, name="alpha-retired", point_cost=10)
    # never redeemed (so deleting it would succeed if a probe reached it), and archived
    unredeemed = await make_reward(ta, name="alpha-unredeemed", point_cost=10)
    await archive_reward(ta, unredeemed.id)
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
    # A reward with a code pool; M2 drew the first code, the others are free.
    pooled = await make_reward(ta, name="alpha-pooled", point_cost=10)
    await attach_pool(ta, pooled.id, low_stock_threshold=2)
    await add_codes(ta, pooled.id, [CodeEntry(code) for code in ALPHA_CODES])
    m2_pooled = await _redeemed(ta, m2.id, pooled.id)
    await archive_reward(ta, retired.id)
    second_key, _ = await tenancy.create_api_key(ta, "alpha-second-key")
    rule = await make_rule(ta, name="alpha-rule", event_type="review", points=7, cap_member_day=70)
    event = await track(ta, m1.external_user_id, "alpha-review-1", "review", stars=5)
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

    ids = {
        "a_reward": str(voucher.id),
        "a_gated": str(gated.id),
        "a_retired": str(retired.id),
        "a_unredeemed": str(unredeemed.id),
        "a_pooled": str(pooled.id),
        "a_redemption_pooled_m2": m2_pooled,
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
        "a_rule": str(rule.id),
        "a_event": str(event.event.id),
        "a_event_key": "alpha-review-1",
    }
    markers = {v for k, v in ids.items() if k.startswith("a_")} | {
        a.tenant_id,
        second_key.prefix,
        hook.secret,
        "alpha-shop.example",
        *ALPHA_CODES,
    }
    return Alpha(a, ids, frozenset(markers))


async def with_beta(gql: GraphQLClient, alpha: Alpha) -> World:
    """A new tenant B with a member (with a token), a reward and a tier of its own."""
    b = await open_tenant(gql)
    tb = uuid.UUID(b.tenant_id)
    b_tier = await make_tier(tb, "beta-tier", 1)
    b_reward = await make_reward(tb, name="beta-reward", point_cost=10, stock=100)
    b_member = await make_member(tb, points=1000, tier=b_tier, email="beta-m@example.com")
    minted = await gql(
        "mutation($id: ID!) { createMemberToken(memberId: $id) { token } }",
        {"id": str(b_member.id)},
        b.api_key,
    )
    ids = {
        **alpha.ids,
        "b_member": str(b_member.id),
        "b_member_ext": b_member.external_user_id,
        "b_reward": str(b_reward.id),
        "b_tier": str(b_tier.id),
    }
    token = minted["data"]["createMemberToken"]["token"]
    return World(alpha.a, b, token, ids, set(alpha.markers))


# ------------------------------------------------------------------ A's data, seen by A

SNAPSHOT_CATALOG = """
{
  rewards(includeArchived: true) {
    nodes {
      id name description type value pointCost stock cooldownSeconds perMemberLimit
      availableFrom availableUntil fulfillmentData publicData imageUrl enabled archivedAt
      updatedAt
      pointDefinition { id name } minTier { id }
      codePool { size free used burnt expired lowStockThreshold }
    }
  }
  tiers { id name rank }
  earningRules(includeArchived: true) { id name points active archivedAt updatedAt }
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
