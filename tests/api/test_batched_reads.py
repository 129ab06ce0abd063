"""Lists cost the same statements whatever their length: the field resolvers of a page's
objects read through DataLoaders (schema.loaders), one statement per field for the whole
page, not one per object (no N+1). Counted on the database client's own statement log."""

from __future__ import annotations

import contextlib
import gc
import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from core import cache, clock
from core.settings import Settings
from models.members.tables import Member
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource
from models.redemptions.redeem import RedeemRequest, redeem
from models.tenancy.readers import Reader
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat, WebhookEvent
from schema.loaders import Loaders
from tests import dbsetup
from tests.conftest import delete_all_rows
from tests.factories import make_member, make_reward, make_tier
from tests.graphql_client import GraphQLClient, TenantSession, in_process, open_tenant

pytestmark = pytest.mark.module_world
ITEMS = 50
FEW = 5
FACTS_READ = 5  # statements of models.tenancy.facts._load
SQL = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")

REDEMPTIONS = """{ redemptions(first: N) { nodes {
  id
  reward { name minTier { name } pointDefinition { name effectivePointMode } }
  member { externalUserId tier { name }
    accounts { balance pending expiringSoon nextExpiryAt historyAtMaster
               pointDefinition { name } grants { amount status } } }
  events { kind }
} } }"""
MEMBERS = """{ members(first: N) { nodes {
  externalUserId tier { name }
  accounts { balance expiringSoon grants(status: [ACTIVE]) { amount } }
} } }"""
DELIVERIES = """{ webhookDeliveries(first: N) { nodes {
  event attempts { statusCode }
} } }"""


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements the database clients run meanwhile (tortoise.db_client's log)."""
    seen: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage().lstrip()
            if message.upper().startswith(SQL):
                seen.append(message)

    logger = logging.getLogger("tortoise.db_client")
    recorder, level = Recorder(logging.DEBUG), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)


@dataclass
class Shop:
    gql: GraphQLClient
    tenant: TenantSession
    # each member's external id: its tier's name, its balance, its number of grants
    members: dict[str, tuple[str, int, int]]


@pytest.fixture(scope="module")
async def shop(db: str, settings: Settings) -> AsyncIterator[Shop]:
    """ITEMS members, each with a tier, points (some expiring soon) and one redemption of a
    reward of its own (with a minimum tier), each redemption with a webhook delivery."""
    async with in_process(settings) as gql:
        tenant = await open_tenant(gql)
        tid = tenant.tenant_id
        await create_endpoint(
            tid,
            "http://127.0.0.1:9/in",
            [WebhookEvent.REWARD_REDEEMED],
            PayloadFormat.GAMIFY,
            allow_private=True,
        )
        members = {}
        for n in range(ITEMS):
            tier = await make_tier(tid, f"Tier {n}", n)
            member = await make_member(tid, points=1_000, tier=tier)
            if n % 2:
                await award_points(
                    AwardRequest(
                        tenant_id=tid,
                        member_id=member.id,
                        definition_id=None,
                        amount=50,
                        source=LedgerSource.PURCHASE,
                        valid_to=clock.now() + timedelta(days=10),
                    )
                )
            reward = await make_reward(tid, min_tier_id=tier.id, point_cost=100 + n)
            await redeem(RedeemRequest(tenant_id=tid, member_id=member.id, reward_id=reward.id))
            members[member.external_user_id] = (tier.name, 1_000 + 50 * (n % 2) - 100 - n, n % 2)
        yield Shop(gql, tenant, members)
    await delete_all_rows()


async def _counted(shop: Shop, query: str, n: int, token: str) -> tuple[int, list[Any]]:
    with statements() as seen:
        # A literal page size: the cost limit counts a variable one as the largest page.
        body = await shop.gql(query.replace("first: N", f"first: {n}"), None, token)
    assert "errors" not in body, body
    (connection,) = body["data"].values()
    return len(seen), connection["nodes"]


@pytest.fixture(params=[False, True], ids=["facts-read", "facts-cached"])
def facts_cached(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Tiers, currencies and the point mode come from models.tenancy.facts: read each time
    by a process that does not follow the invalidations (as here by default), cached by one
    that does (an API process with Redis, engine.credential_watch)."""
    cache.follow(request.param)
    yield request.param
    cache.follow(False)


@pytest.mark.parametrize(
    ("query", "who"),
    [(REDEMPTIONS, "admin"), (MEMBERS, "api_key"), (DELIVERIES, "admin")],
    ids=["redemptions", "members", "webhookDeliveries"],
)
async def test_a_page_of_fifty_costs_the_statements_of_a_page_of_five(
    shop: Shop, query: str, who: str, facts_cached: bool
) -> None:
    # given
    token = shop.tenant.admin_token if who == "admin" else shop.tenant.api_key
    await _counted(shop, query, 1, token)  # a cached process has the facts by now

    # when
    few, few_nodes = await _counted(shop, query, FEW, token)
    many, many_nodes = await _counted(shop, query, ITEMS, token)

    # then
    assert (len(few_nodes), len(many_nodes)) == (FEW, ITEMS)
    counts = f"{FEW} items: {few} statements, {ITEMS} items: {many}"
    if facts_cached:
        assert many == few, counts
    else:
        # Each batch of the tier, currency and point-mode loaders reads the facts anew; the
        # loads of one such loader from two places of the query (a reward's minTier, a
        # member's tier) share a batch or not as the database's answers interleave.
        assert abs(many - few) <= 2 * FACTS_READ, counts
    assert many < ITEMS, counts


async def test_batched_fields_answer_each_object_its_own_rows(shop: Shop) -> None:
    # when
    _, nodes = await _counted(shop, REDEMPTIONS, ITEMS, shop.tenant.admin_token)

    # then: each redemption shows its own reward, member, tier, accounts and timeline
    seen = {}
    for node in nodes:
        reward, member = node["reward"], node["member"]
        (account,) = member["accounts"]
        seen[member["externalUserId"]] = (
            member["tier"]["name"],
            account["balance"],
            len(account["grants"]),
        )
        assert reward["minTier"]["name"] == member["tier"]["name"]
        assert reward["pointDefinition"]["effectivePointMode"] == "MASTER"
        assert account["historyAtMaster"] is False
        assert {"REDEEM_REQUESTED", "POINTS_WITHDRAWN"} <= {e["kind"] for e in node["events"]}
    assert seen == shop.members


WIDGET = """{ me { externalUserId accounts { balance pending } }
  catalog(first: 20) { nodes { reward { name } canRedeem reason } } }"""


async def test_the_widgets_query_reads_the_member_and_its_balances_once(
    shop: Shop, facts_cached: bool
) -> None:
    """`me` and `catalog` both need the member, its accounts and their grants: one query
    reads each once (its loaders cache); a mutation's do not (see the next test)."""
    # given a member of the shop with points expiring soon (so its grants are read)
    external = next(e for e, (_, _, grants) in shop.members.items() if grants)
    minted = await shop.gql(
        "mutation($e: String!) { createMemberToken(externalUserId: $e) { token } }",
        {"e": external},
        shop.tenant.api_key,
    )
    token = minted["data"]["createMemberToken"]["token"]
    await shop.gql(WIDGET, None, token)  # a cached process has the facts by now

    # when
    with statements() as seen:
        body = await shop.gql(WIDGET, None, token)

    # then the answer is the member's own, and each of its rows was read once
    assert "errors" not in body, body
    assert body["data"]["me"]["externalUserId"] == external
    assert body["data"]["me"]["accounts"][0]["balance"] == shop.members[external][1]
    assert body["data"]["catalog"]["nodes"]
    tables = [_table(s) for s in seen]
    facts = {"tenant", "tier", "point_definition", "code_pool", "tier_policy"}  # tenancy.facts
    own = [t for t in tables if t not in facts]
    live_catalog = [] if facts_cached else ["reward"]  # cached as the facts are
    if dbsetup.is_postgres():
        # one statement reads the member, its accounts, their grants, its use of rewards
        # and the live stock
        (state,) = [s for s in seen if "FROM member m" in s]
        for table in ("point_account", "point_grant", "member_reward_usage", "reward"):
            assert f"FROM {table}" in state, state
        assert sorted(own) == sorted([_table(state), *live_catalog])
    else:
        read_alone = ["member", "member_reward_usage", "point_account", "point_grant", "reward"]
        assert sorted(own) == sorted([*read_alone, *live_catalog])
    # no pool is looked up for rewards without one; the facts are read once, if at all
    assert len(tables) - len(own) == (0 if facts_cached else FACTS_READ), tables


async def test_a_querys_loaders_are_freed_when_dropped_not_by_the_collector(shop: Shop) -> None:
    """A query's loaders hold what it read: they must be in no reference cycle of their
    own, or every request's reads would wait for the garbage collector (engine.heap)."""
    # given a member's own loaders that have read its state (accounts, usage, stock primed)
    member = await Member.get(external_user_id=next(iter(shop.members)))
    load = Loaders(Reader(member.tenant_id, member.id), cache=True)
    assert await load.member.load(member.id) == member
    assert await load.accounts.load(member.id)
    gone = weakref.ref(load)
    gc.collect()
    gc.disable()
    try:
        # when the query is done with them
        del load

        # then they are freed at once, the collector not running
        assert gone() is None
    finally:
        gc.enable()


async def test_a_mutations_payload_reads_rows_as_the_mutation_left_them(shop: Shop) -> None:
    # given a member seen by an earlier field of the same operation
    external = next(iter(shop.members))
    upsert = """mutation($e: String!) {
      before: upsertMember(input: {externalUserId: $e}) { member { name } }
      after: upsertMember(input: {externalUserId: $e, name: "Renamed"}) { member { name } }
    }"""

    # when
    body = await shop.gql(upsert, {"e": external}, shop.tenant.api_key)

    # then the second payload shows the new name, not the first field's read
    assert body["data"]["after"]["member"]["name"] == "Renamed", body


def _table(statement: str) -> str:
    """The table a SELECT reads first (`FROM "member"` -> member)."""
    after = statement.split(" FROM ", 1)[1].split()[0]
    return after.strip('"`')
