"""Redemptions in follower mode: the points are spent here at once and the master is told
(an Automation `loyalty.addPoints` of -cost, through the outbox to a fake master on
127.0.0.1); a FAILED redemption's refund is told the same way, once; sync reconciles both
instead of giving the points back or taking them twice."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from core.payload_crypto import decrypt_json
from models.members.tables import Member
from models.pointmaster.items import voyado_time
from models.pointmaster.tables import ForwardedAdjustment
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.tables import Redemption
from models.tenancy.tables import PointMode
from models.webhooks.tables import WebhookDelivery
from tests.factories import make_reward
from tests.pointmaster.conftest import fixture
from tests.pointmaster.live_engine import Engine, Tenant
from tests.pointmaster.test_adjustments import CONTACT, SETTINGS, follower, received, rotate
from tests.polling import eventually
from tests.webhooks.receiver import Answer, Receiver

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

AUTOMATION = fixture("voyado_add_points_decrypted_automation.json")
START = datetime.fromisoformat("2026-03-01T10:00:00+00:00")
REDEEM = """mutation($r: ID!, $u: String!) {
  redeemReward(rewardId: $r, externalUserId: $u) {
    redemption { id status pointsSpent } errors { code message }
  }
}"""
COMPLETE = """mutation($id: ID!) {
  completeRedemption(id: $id, status: FAILED, reason: "out of vouchers") {
    redemption { status } errors { code }
  }
}"""
ADJUSTMENTS = """query($s: AdjustmentStatus) {
  pointAdjustments(status: $s) { nodes { id amount status appliedLocally redemptionId } }
}"""


async def balance(tenant: Tenant) -> int:
    member = await Member.get(tenant_id=tenant.id, external_user_id=CONTACT)
    account = await PointAccount.get(member_id=member.id)
    return account.balance


async def sync(engine: Engine, tenant: Tenant, what: str, items: list[dict[str, Any]]) -> Any:
    """Upload as the master does, and wait for the worker to apply it: the status body."""
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    posted = await engine.http.post(f"/api/v2/point-accounts/{what}", json=items, headers=headers)
    assert posted.status_code == 202, posted.text
    url = f"/api/v2/point-accounts/{what}/status/{posted.json()['id']}"
    answers: list[Any] = []

    async def applied() -> bool:
        answers.append((await engine.http.get(url, headers=headers)).json())
        return answers[-1]["status"] not in ("Pending", "Processing")

    await eventually(applied)
    return answers[-1]


def snapshot(amount: int, at: datetime) -> list[dict[str, Any]]:
    return [
        {"contactId": CONTACT, "amount": amount, "definitionId": 1, "timeStamp": voyado_time(at)}
    ]


async def member_with_points(
    engine: Engine, master: Receiver, mode: PointMode, points: int = 500
) -> tuple[Tenant, str, UUID]:
    """A follower (adjustment URL, key) whose contact the master gave `points`; its key
    and a reward of 100 points."""
    tenant = await follower(engine, master, mode)
    _, key = await rotate(engine, tenant.admin)
    if mode == PointMode.FOLLOWER_BALANCE:
        answer = await sync(engine, tenant, "balances", snapshot(points, START))
    else:
        purchase = {"contactId": CONTACT, "amount": points, "definitionId": 1,
                    "timeStamp": voyado_time(START), "source": "Purchase"}  # fmt: skip
        answer = await sync(engine, tenant, "transactions", [purchase])
    assert answer["status"] == "Completed", answer
    reward = await make_reward(tenant.id, name="Gift card", point_cost=100)
    return tenant, key, reward.id


async def redeem(engine: Engine, tenant: Tenant, reward_id: UUID) -> dict[str, Any]:
    answer = await engine.data(REDEEM, tenant.api_key, r=str(reward_id), u=CONTACT)
    result: dict[str, Any] = answer["redeemReward"]
    return result


async def delivered_at(forward_id: str) -> datetime:
    """When the master acknowledged the forward (waits for it)."""
    forward = await ForwardedAdjustment.get(id=forward_id)

    async def done() -> bool:
        delivery = await WebhookDelivery.get(id=forward.delivery_id)
        return delivery.delivered_at is not None

    await eventually(done)
    moment = (await WebhookDelivery.get(id=forward.delivery_id)).delivered_at
    assert moment is not None
    return moment


async def test_a_redemption_is_spent_here_and_told_to_the_master(
    engine: Engine, master: Receiver
) -> None:
    # given a FOLLOWER_BALANCE member with 500 points from the master, and a key
    tenant, key, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_BALANCE)

    # when the member redeems a 100-point reward
    answer = await redeem(engine, tenant, reward_id)

    # then the points are spent here at once
    assert answer["errors"] == []
    redemption = answer["redemption"]
    assert (redemption["status"], redemption["pointsSpent"]) == ("REDEEMED", 100)
    assert await balance(tenant) == 400
    entry = await LedgerEntry.get(redemption_id=redemption["id"])
    assert (entry.source, entry.amount) == (LedgerSource.REDEMPTION, -100)
    # and the master receives an Automation adjustment of -100 naming the redemption,
    # with exactly the automation fixture's fields
    (body,) = await received(master, 1)
    fields = decrypt_json(body["payload"], key)
    assert fields.keys() == AUTOMATION.keys()
    assert fields == {
        "ContactId": CONTACT,
        "Amount": -100,
        "Description": "Redeemed 1 x Gift card",
        "Source": "Automation",
        "PointDefinitionId": 1,
        "Reason": "GamifyEngine",
        "ProcessId": redemption["id"],
        "WorkflowId": str(reward_id),
        "WorkflowName": "Reward redemption",
    }
    # and the admin sees it as the redemption's, applied here, delivered once acknowledged
    await delivered_at(body["id"])
    listed = await engine.data(ADJUSTMENTS, tenant.admin, s="DELIVERED")
    assert listed["pointAdjustments"]["nodes"] == [
        {"id": body["id"], "amount": -100, "status": "DELIVERED", "appliedLocally": True,
         "redemptionId": redemption["id"]}
    ]  # fmt: skip


async def test_snapshots_neither_give_spent_points_back_nor_take_them_twice(
    engine: Engine, master: Receiver
) -> None:
    # given a redemption of 100 of the member's 500 points, acknowledged by the master
    tenant, _, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_BALANCE)
    redemption = (await redeem(engine, tenant, reward_id))["redemption"]
    (body,) = await received(master, 1)
    delivered = await delivered_at(body["id"])

    # when the master sends a snapshot taken before it had the deduction (still 500)
    older = await sync(engine, tenant, "balances", snapshot(500, delivered - timedelta(seconds=1)))

    # then the spent points stay spent, and the batch says why
    assert await balance(tenant) == 400
    assert older["status"] == "Completed"
    assert [m["message"] for m in older["messages"]] == [
        "Item 0 applied as 400: snapshot "
        f"{voyado_time(delivered - timedelta(seconds=1))}: 500, -100 from 1 redemption "
        "change(s) made here that the master had not received by then"
    ]
    forward = await ForwardedAdjustment.get(id=body["id"])
    assert forward.reflected_at is None

    # when it sends one taken after the deduction (400), then one after a purchase there (450)
    await sync(engine, tenant, "balances", snapshot(400, delivered + timedelta(seconds=1)))
    after = await balance(tenant)
    newer = await sync(engine, tenant, "balances", snapshot(450, delivered + timedelta(seconds=2)))

    # then each is taken as is, and the deduction shows as reflected by the first
    assert (after, await balance(tenant)) == (400, 450)
    assert newer["messages"] == []
    await forward.refresh_from_db()
    assert forward.reflected_at is not None
    statuses = await engine.data(ADJUSTMENTS, tenant.admin, s="REFLECTED")
    assert [n["redemptionId"] for n in statuses["pointAdjustments"]["nodes"]] == [redemption["id"]]
    syncs = (
        await LedgerEntry.filter(tenant_id=tenant.id, source=LedgerSource.BALANCE_SYNC)
        .order_by("created_at")
        .values_list("amount", flat=True)
    )
    assert syncs == [500, 50]


async def test_a_deduction_still_on_its_way_is_kept(engine: Engine, master: Receiver) -> None:
    # given a master that fails to answer, so the deduction is not delivered yet
    tenant, _, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_BALANCE)
    master.default = Answer(status=503)
    await redeem(engine, tenant, reward_id)
    await received(master, 1)

    # when it sends a snapshot of now, without the deduction
    answer = await sync(engine, tenant, "balances", snapshot(500, START + timedelta(days=1)))

    # then the balance keeps the deduction, and the ledger entry says why it moved (or not)
    assert await balance(tenant) == 400
    assert answer["messages"][0]["message"].startswith("Item 0 applied as 400:")

    # when the master spent 450 of its 500 elsewhere meanwhile
    await sync(engine, tenant, "balances", snapshot(50, START + timedelta(days=2)))

    # then the balance is 0, not below, and the entry names both numbers
    assert await balance(tenant) == 0
    last = await LedgerEntry.filter(tenant_id=tenant.id).order_by("-created_at").first()
    assert last is not None and last.amount == -400
    assert "50, -100 from 1 redemption change(s)" in last.description
    assert last.description.endswith("; not below 0)")


async def test_a_failed_redemption_refunds_and_tells_the_master_once(
    engine: Engine, master: Receiver
) -> None:
    # given a redemption of 100 of 500 points, told to the master
    tenant, key, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_BALANCE)
    redemption = (await redeem(engine, tenant, reward_id))["redemption"]
    await received(master, 1)

    # when the fulfilment backend reports it FAILED twice at the same moment
    answers = await asyncio.gather(
        *(engine.data(COMPLETE, tenant.api_key, id=redemption["id"]) for _ in range(2))
    )

    # then it fails once, the points come back here once
    assert [a["completeRedemption"]["errors"] for a in answers] == [[], []]
    assert await balance(tenant) == 500
    assert await LedgerEntry.filter(redemption_id=redemption["id"]).count() == 2
    # and the master hears +100 once, as the refund of the same redemption
    bodies = await received(master, 2)
    # (the outbox is the truth: a second refund would have a forward and a delivery of its own)
    forwards = await ForwardedAdjustment.filter(redemption_id=redemption["id"])
    assert sorted(f.amount for f in forwards) == [-100, 100]
    assert await WebhookDelivery.filter(id__in=[f.delivery_id for f in forwards]).count() == 2
    assert await WebhookDelivery.filter(tenant_id=tenant.id).count() == 2
    refund = decrypt_json(bodies[1]["payload"], key)
    assert (refund["Amount"], refund["ProcessId"], refund["WorkflowName"]) == (
        100,
        redemption["id"],
        "Redemption refund",
    )
    assert refund.keys() == AUTOMATION.keys()
    forwards = await ForwardedAdjustment.filter(redemption_id=redemption["id"]).count()
    assert forwards == 2

    # and a snapshot after both deliveries (the master's 500) is taken as is
    delivered = max([await delivered_at(b["id"]) for b in bodies])
    await sync(engine, tenant, "balances", snapshot(500, delivered + timedelta(seconds=1)))
    assert await balance(tenant) == 500
    assert (await Redemption.get(id=redemption["id"])).status == "FAILED"


async def test_a_refund_the_master_cannot_be_told_still_counts(
    engine: Engine, master: Receiver
) -> None:
    # given a delivered redemption, then the adjustment URL removed
    tenant, _, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_BALANCE)
    redemption = (await redeem(engine, tenant, reward_id))["redemption"]
    (body,) = await received(master, 1)
    delivered = await delivered_at(body["id"])
    await engine.data(SETTINGS, tenant.admin, input={"adjustmentUrl": None})

    # when the redemption fails
    answer = await engine.data(COMPLETE, tenant.api_key, id=redemption["id"])

    # then the refund is made here, recorded as not delivered to the master
    assert answer["completeRedemption"]["errors"] == []
    assert await balance(tenant) == 500
    failed = await engine.data(ADJUSTMENTS, tenant.admin, s="DELIVERY_FAILED")
    assert [(n["amount"], n["status"]) for n in failed["pointAdjustments"]["nodes"]] == [
        (100, "DELIVERY_FAILED")
    ]
    # and the master's next snapshot (which has only the deduction) does not undo it
    await sync(engine, tenant, "balances", snapshot(400, delivered + timedelta(seconds=1)))
    assert await balance(tenant) == 500
    # and without the URL, a new redemption is refused rather than spent unbeknown to it
    refused = await redeem(engine, tenant, reward_id)
    assert refused["errors"][0]["code"] == "NO_ADJUSTMENT_URL"
    assert await balance(tenant) == 500


async def test_an_echoed_transaction_is_not_applied_twice(engine: Engine, master: Receiver) -> None:
    # given a FOLLOWER_TRANSACTIONS member who redeemed 100 of 500 points
    tenant, _, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    redemption = (await redeem(engine, tenant, reward_id))["redemption"]
    (body,) = await received(master, 1)
    assert await balance(tenant) == 400

    # when the master sends the deduction back, its id as transactionId, twice
    echo = {"contactId": CONTACT, "amount": -100, "definitionId": 1, "source": "Automation",
            "timeStamp": voyado_time(START + timedelta(hours=1)), "transactionId": body["id"]}  # fmt: skip
    first = await sync(engine, tenant, "transactions", [echo])
    second = await sync(engine, tenant, "transactions", [echo])
    # and once with other values under that id
    wrong = await sync(engine, tenant, "transactions", [{**echo, "amount": -90}])

    # then it is recognised as applied here, never posted again, and reflected
    assert await balance(tenant) == 400
    for answer in (first, second):
        assert answer["status"] == "Completed"
        assert [m["message"] for m in answer["messages"]] == [
            f"Item 0 already applied: transactionId {body['id']} is the engine's own -100 "
            f"for redemption {redemption['id']}, applied when it was made; not applied again"
        ]
    assert wrong["status"] == "CompletedWithErrors"
    assert wrong["messages"][0]["message"].startswith(f"Item 0: transactionId {body['id']} is")
    reflected = await engine.data(ADJUSTMENTS, tenant.admin, s="REFLECTED")
    assert [n["id"] for n in reflected["pointAdjustments"]["nodes"]] == [body["id"]]
    # and the master's own transactions still apply
    purchase = {**echo, "amount": 30, "source": "Purchase", "transactionId": "order-1"}
    await sync(engine, tenant, "transactions", [purchase])
    assert await balance(tenant) == 430


async def test_in_master_mode_a_redemption_tells_nobody(engine: Engine, master: Receiver) -> None:
    # given a tenant that owns its points, with a master configured all the same
    tenant = await follower(engine, master, PointMode.MASTER)
    await rotate(engine, tenant.admin)
    await engine.data(
        "mutation($u: String!) { awardPoints(input: {externalUserId: $u, amount: 500}) "
        "{ errors { code } } }",
        tenant.api_key,
        u=CONTACT,
    )
    reward = await make_reward(tenant.id, point_cost=100)

    # when the member redeems, and the redemption fails
    redemption = (await redeem(engine, tenant, reward.id))["redemption"]
    failed = await engine.data(COMPLETE, tenant.api_key, id=redemption["id"])

    # then points move here only, and nothing is forwarded
    assert failed["completeRedemption"]["errors"] == []
    assert await balance(tenant) == 500
    assert await ForwardedAdjustment.filter(tenant_id=tenant.id).count() == 0
    assert await WebhookDelivery.filter(tenant_id=tenant.id, event="loyalty.addPoints").count() == 0
    assert [json.loads(r.body) for r in master.received] == []
