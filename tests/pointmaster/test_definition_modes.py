"""A point definition may override the tenant's point mode; awards, adjustments, uploads
and history follow the mode of the definition they concern."""

from __future__ import annotations

from typing import Any

import pytest

from models.members.upserts import save_point_definition, upsert_member
from models.pointmaster.modes import set_point_mode
from models.pointmaster.tables import PointModeChange
from models.points.tables import PointAccount
from models.tenancy.tables import PointMode
from tests.factories import default_definition
from tests.pointmaster.live_engine import Engine, Tenant, open_tenant
from tests.polling import eventually

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

SET_MODE = """mutation($mode: PointMode, $d: ID, $reason: String!) {
  setPointMode(mode: $mode, pointDefinitionId: $d, reason: $reason) {
    mode pointDefinition { name pointMode effectivePointMode }
    change { pointDefinitionId oldMode newMode reason } errors { code }
  }
}"""
AWARD = """mutation($d: ID, $amount: Int!) {
  awardPoints(input: {externalUserId: "m-1", pointDefinitionId: $d, amount: $amount}) {
    entry { amount } errors { code } } }"""
ADJUST = """mutation($d: ID, $amount: Int!) {
  adjustPoints(input: {externalUserId: "m-1", pointDefinitionId: $d, amount: $amount}) {
    applied adjustment { id } errors { code } } }"""
LEDGER = """query($d: ID) { ledger(externalUserId: "m-1", pointDefinitionId: $d) {
  nodes { amount source } } }"""
ACCOUNTS = """{ member(externalUserId: "m-1") { accounts {
  balance pending expiringSoon historyAtMaster pointDefinition { name } } } }"""
UPLOAD = """mutation($items: [PointTransactionInput!]!) {
  uploadPointTransactions(items: $items) { batch { id } errors { code } } }"""
BATCH = "query($id: ID!) { syncBatch(id: $id) { status appliedCount messages { message } } }"


async def with_tokens(engine: Engine, tenant_mode: PointMode) -> tuple[Tenant, str]:
    """A tenant in `tenant_mode` with a second currency, "tokens" (definitionId 2)."""
    tenant = await open_tenant(engine)
    await set_point_mode(tenant.id, tenant_mode, actor="test")
    tokens = await save_point_definition(tenant.id, None, "tokens", "")
    await upsert_member(tenant.id, "m-1")
    return tenant, str(tokens.id)


async def test_a_definition_overrides_the_tenant_mode_and_it_is_recorded(engine: Engine) -> None:
    # given a MASTER tenant with a second currency
    tenant, tokens = await with_tokens(engine, PointMode.MASTER)

    # when the admin makes that currency follow the master, then follow the tenant again
    follow = await engine.data(
        SET_MODE, tenant.admin, mode="FOLLOWER_TRANSACTIONS", d=tokens, reason="Voyado owns tokens"
    )
    inherit = await engine.data(SET_MODE, tenant.admin, mode=None, d=tokens, reason="back")
    again = await engine.data(SET_MODE, tenant.admin, mode=None, d=tokens, reason="no-op")

    # then each switch is recorded with the currency, and the effective mode follows
    first = follow["setPointMode"]
    assert first["mode"] == "FOLLOWER_TRANSACTIONS"
    assert first["pointDefinition"] == {
        "name": "tokens",
        "pointMode": "FOLLOWER_TRANSACTIONS",
        "effectivePointMode": "FOLLOWER_TRANSACTIONS",
    }
    assert first["change"] == {
        "pointDefinitionId": tokens,
        "oldMode": None,
        "newMode": "FOLLOWER_TRANSACTIONS",
        "reason": "Voyado owns tokens",
    }
    assert inherit["setPointMode"]["pointDefinition"]["effectivePointMode"] == "MASTER"
    assert inherit["setPointMode"]["change"]["newMode"] is None
    assert again["setPointMode"]["change"] is None
    assert await PointModeChange.filter(tenant_id=tenant.id).count() == 2
    # and an API key may not switch, another tenant's currency is not found
    other = await open_tenant(engine)
    denied = await engine.gql(SET_MODE, tenant.api_key, mode="MASTER", d=tokens, reason="")
    foreign = await engine.data(SET_MODE, other.admin, mode="MASTER", d=tokens, reason="")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert foreign["setPointMode"]["errors"] == [{"code": "NOT_FOUND"}]


async def test_awards_and_adjustments_follow_the_definition(engine: Engine) -> None:
    # given a MASTER tenant whose "tokens" follow the master (no adjustment URL set)
    tenant, tokens = await with_tokens(engine, PointMode.MASTER)
    await engine.data(SET_MODE, tenant.admin, mode="FOLLOWER_BALANCE", d=tokens, reason="")

    # when points are awarded and adjusted in each currency
    award_points = await engine.data(AWARD, tenant.api_key, d=None, amount=10)
    award_tokens = await engine.data(AWARD, tenant.api_key, d=tokens, amount=10)
    adjust_points = await engine.data(ADJUST, tenant.admin, d=None, amount=5)
    adjust_tokens = await engine.data(ADJUST, tenant.admin, d=tokens, amount=5)

    # then the tenant's own currency takes both, the master's refuses the local award and
    # would forward the adjustment (which needs the master's URL first)
    assert award_points["awardPoints"] == {"entry": {"amount": 10}, "errors": []}
    assert award_tokens["awardPoints"]["errors"] == [{"code": "MASTER_OWNS_POINTS"}]
    assert adjust_points["adjustPoints"]["applied"] is True
    assert adjust_tokens["adjustPoints"]["errors"] == [{"code": "NO_ADJUSTMENT_URL"}]
    assert sorted(a.balance for a in await PointAccount.filter(tenant_id=tenant.id)) == [15]


async def test_a_follower_tenant_may_keep_one_currency_itself(engine: Engine) -> None:
    # given a FOLLOWER_TRANSACTIONS tenant whose "tokens" the engine keeps (MASTER)
    tenant, tokens = await with_tokens(engine, PointMode.FOLLOWER_TRANSACTIONS)
    await engine.data(SET_MODE, tenant.admin, mode="MASTER", d=tokens, reason="engagement")

    # when the master uploads transactions for both currencies, and the backend awards tokens
    def item(definition: int) -> dict[str, Any]:
        return {
            "contactId": "m-1",
            "amount": 12,
            "definitionId": definition,
            "timeStamp": "2031-01-01T00:00:00Z",
            "source": "Purchase",
        }

    upload = await engine.data(UPLOAD, tenant.api_key, items=[item(1), item(2)])
    award = await engine.data(AWARD, tenant.api_key, d=tokens, amount=30)
    batch_id = upload["uploadPointTransactions"]["batch"]["id"]
    batch: dict[str, Any] = {}

    async def applied() -> bool:
        nonlocal batch
        batch = (await engine.data(BATCH, tenant.api_key, id=batch_id))["syncBatch"]
        return batch["status"] != "PENDING" and batch["status"] != "PROCESSING"

    await eventually(applied)

    # then the master's item for its currency is applied, the one for tokens is rejected,
    # and the engine awards tokens itself
    assert batch["appliedCount"] == 1
    assert [m["message"] for m in batch["messages"]] == [
        "Item 1: definitionId 2 is in point mode MASTER; transactions uploads need "
        "FOLLOWER_TRANSACTIONS"
    ]
    assert award["awardPoints"]["errors"] == []


async def test_in_follower_balance_the_history_is_at_the_master(engine: Engine) -> None:
    # given a MASTER tenant whose "tokens" follow a master that sends balances only,
    # and a member with points in both currencies
    tenant, tokens = await with_tokens(engine, PointMode.MASTER)
    await engine.data(AWARD, tenant.api_key, d=None, amount=10)
    await engine.data(AWARD, tenant.api_key, d=tokens, amount=10)
    await engine.data(SET_MODE, tenant.admin, mode="FOLLOWER_BALANCE", d=tokens, reason="")

    points = str((await default_definition(tenant.id)).id)

    # when the ledger is read for each currency and for all, and the accounts
    own = await engine.data(LEDGER, tenant.api_key, d=points)
    of_tokens = await engine.gql(LEDGER, tenant.api_key, d=tokens)
    of_all = await engine.gql(LEDGER, tenant.admin)
    accounts = (await engine.data(ACCOUNTS, tenant.admin))["member"]["accounts"]

    # then the engine's currency has its ledger; the master's says where its history is
    assert own["ledger"]["nodes"] == [{"amount": 10, "source": "ADJUSTMENT"}]
    for refused in (of_tokens, of_all):
        error = refused["errors"][0]
        assert error["extensions"]["code"] == "HISTORY_AT_MASTER"
        assert "pointsLog" in error["message"]
    by_name = {a["pointDefinition"]["name"]: a for a in accounts}
    assert by_name["points"] == {
        "balance": 10,
        "pending": 0,
        "expiringSoon": 0,
        "historyAtMaster": False,
        "pointDefinition": {"name": "points"},
    }
    assert by_name["tokens"] == {
        "balance": 10,
        "pending": None,
        "expiringSoon": None,
        "historyAtMaster": True,
        "pointDefinition": {"name": "tokens"},
    }
