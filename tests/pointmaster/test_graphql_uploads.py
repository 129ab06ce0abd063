"""The uploads over GraphQL: stored at once, applied by the worker, `syncBatch` reports them;
and a forwarded adjustment becomes REFLECTED when a later batch for its contact applies."""

from __future__ import annotations

from typing import Any

import pytest

from models.members.upserts import upsert_member
from models.pointmaster.modes import set_point_mode
from models.points.tables import PointAccount
from models.tenancy.tables import PointMode
from tests.pointmaster.conftest import fixture
from tests.pointmaster.live_engine import Engine, Tenant, open_tenant
from tests.polling import eventually
from tests.webhooks.receiver import Receiver

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

BALANCES = """mutation($items: [PointBalanceInput!]!) {
  uploadPointBalances(items: $items) { batch { id status itemCount } errors { code message } }
}"""
TRANSACTIONS = """mutation($items: [PointTransactionInput!]!) {
  uploadPointTransactions(items: $items) { batch { id status } errors { code message } }
}"""
BATCH = """query($id: ID!) {
  syncBatch(id: $id) { id kind status timeStamp itemCount appliedCount messages { message } }
}"""
ADJUST = """mutation($u: String!, $amount: Int!) {
  adjustPoints(input: {externalUserId: $u, amount: $amount}) {
    adjustment { id status } errors { code } } }"""
STATUS = "query { pointAdjustments { nodes { id status } } }"


def as_input(item: dict[str, Any]) -> dict[str, Any]:
    """A fixture item as the GraphQL input takes it (the REST body's field names)."""
    return {k: v for k, v in item.items() if v is not None}


async def follower(engine: Engine, mode: PointMode) -> Tenant:
    tenant = await open_tenant(engine)
    await set_point_mode(tenant.id, mode, actor="test")
    return tenant


async def finished(engine: Engine, token: str, batch_id: str) -> dict[str, Any]:
    batch: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal batch
        batch = (await engine.data(BATCH, token, id=batch_id))["syncBatch"]
        return batch["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS")

    await eventually(done)
    return batch


async def test_balances_upload_is_answered_at_once_then_applied(engine: Engine) -> None:
    # given a FOLLOWER_BALANCE tenant and the fixture's balances
    tenant = await follower(engine, PointMode.FOLLOWER_BALANCE)
    items = [as_input(i) for i in fixture("voyado_balances_request.json")]

    # when its backend uploads them
    answer = (await engine.data(BALANCES, tenant.api_key, items=items))["uploadPointBalances"]

    # then the batch id comes back at once, and the worker applies it
    assert answer["errors"] == [] and answer["batch"]["itemCount"] == 2
    batch = await finished(engine, tenant.admin, answer["batch"]["id"])
    assert (batch["status"], batch["appliedCount"], batch["kind"]) == ("COMPLETED", 2, "BALANCES")
    balances = await PointAccount.filter(tenant_id=tenant.id).order_by("balance")
    assert [a.balance for a in balances] == [63, 122]


async def test_transactions_upload_and_its_messages(engine: Engine) -> None:
    # given a FOLLOWER_TRANSACTIONS tenant
    tenant = await follower(engine, PointMode.FOLLOWER_TRANSACTIONS)
    (item,) = fixture("voyado_transactions_request.json")
    item = {**item, "validFrom": "2030-06-16T08:40:51Z", "validTo": "2031-06-16T08:40:51Z"}
    unknown = {**as_input(item), "definitionId": 9}

    # when its admin uploads the fixture's item and one for an unknown definition
    answer = await engine.data(TRANSACTIONS, tenant.admin, items=[as_input(item), unknown])

    # then the batch applies the first and says why the second was rejected
    batch = await finished(engine, tenant.api_key, answer["uploadPointTransactions"]["batch"]["id"])
    assert batch["status"] == "COMPLETED_WITH_ERRORS" and batch["appliedCount"] == 1
    assert [m["message"] for m in batch["messages"]] == [
        "Item 1: definitionId 9 is not a point definition"
    ]


async def test_refusals_have_codes_and_batches_stay_private(engine: Engine) -> None:
    # given a MASTER tenant, a follower with a batch, and a member of the follower
    master_mode = await open_tenant(engine)
    tenant = await follower(engine, PointMode.FOLLOWER_BALANCE)
    items = [as_input(i) for i in fixture("voyado_balances_request.json")]
    batch_id = (await engine.data(BALANCES, tenant.api_key, items=items))["uploadPointBalances"][
        "batch"
    ]["id"]
    await upsert_member(tenant.id, "member-1")
    member = await engine.member_token(tenant.api_key, "member-1")

    # when the MASTER tenant uploads, the follower uploads 1,001 items or transactions,
    # another tenant asks for the batch, and a member tries to upload
    wrong = await engine.data(BALANCES, master_mode.api_key, items=items)
    too_many = await engine.data(BALANCES, tenant.api_key, items=items[:1] * 1001)
    wrong_kind = await engine.data(
        TRANSACTIONS,
        tenant.api_key,
        items=[as_input(fixture("voyado_transactions_request.json")[0])],
    )
    foreign = await engine.data(BATCH, master_mode.admin, id=batch_id)
    forbidden = await engine.gql(BALANCES, member, items=items)

    # then each is refused with its code, and the batch is not found for the other tenant
    assert wrong["uploadPointBalances"]["errors"][0]["code"] == "WRONG_POINT_MODE"
    assert too_many["uploadPointBalances"]["errors"][0]["code"] == "TOO_MANY_ITEMS"
    assert wrong_kind["uploadPointTransactions"]["errors"][0]["code"] == "WRONG_POINT_MODE"
    assert foreign["syncBatch"] is None
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_delivered_adjustment_is_reflected_by_the_next_sync(
    engine: Engine, master: Receiver
) -> None:
    # given a follower's adjustment for a contact, delivered to the master
    tenant = await follower(engine, PointMode.FOLLOWER_BALANCE)
    await upsert_member(tenant.id, "c-1")
    await engine.data(
        "mutation($u: String!) { setPointMasterSettings(input: {adjustmentUrl: $u}) "
        "{ errors { code } } }",
        tenant.admin,
        u=master.url + "/add",
    )
    await engine.data("mutation { rotatePointMasterKey { secret } }", tenant.admin)
    sent = (await engine.data(ADJUST, tenant.admin, u="c-1", amount=40))["adjustPoints"]
    adjustment_id = sent["adjustment"]["id"]

    async def status() -> str:
        nodes = (await engine.data(STATUS, tenant.admin))["pointAdjustments"]["nodes"]
        return str(next(n["status"] for n in nodes if n["id"] == adjustment_id))

    async def delivered() -> bool:
        return await status() == "DELIVERED"

    await eventually(delivered)

    # when the master then sends a balance for another contact, then for this one
    def balance(contact: str) -> dict[str, Any]:
        return {
            "contactId": contact,
            "amount": 40,
            "definitionId": 1,
            "timeStamp": "2031-01-01T00:00:00Z",
        }

    other = await engine.data(BALANCES, tenant.api_key, items=[balance("c-2")])
    await finished(engine, tenant.admin, other["uploadPointBalances"]["batch"]["id"])
    after_other = await status()
    this = await engine.data(BALANCES, tenant.api_key, items=[balance("c-1")])
    await finished(engine, tenant.admin, this["uploadPointBalances"]["batch"]["id"])

    # then only the batch for its contact reflects it
    assert after_other == "DELIVERED"
    assert await status() == "REFLECTED"
