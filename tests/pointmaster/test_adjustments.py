"""`adjustPoints` in follower mode: not applied here, sent to a fake point master (a real
HTTP server on 127.0.0.1) as an encrypted `loyalty.addPoints` webhook through the outbox."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from core.payload_crypto import PayloadDecryptionError, decrypt_json
from core.security import hash_password
from models.members.upserts import upsert_member
from models.pointmaster.modes import set_point_mode
from models.points.tables import LedgerEntry, PointAccount
from models.tenancy.tables import PointMode, TenantAdmin
from tests.factories import PASSWORD
from tests.pointmaster.conftest import fixture
from tests.pointmaster.live_engine import Engine, Tenant, open_tenant
from tests.polling import eventually
from tests.webhooks.receiver import Receiver

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

README = Path(__file__).resolve().parents[2] / "README.md"
MANUAL = fixture("voyado_add_points_decrypted_manual.json")
AUTOMATION = fixture("voyado_add_points_decrypted_automation.json")
CONTACT = MANUAL["ContactId"]
SETTINGS = """mutation($input: PointMasterSettingsInput!) {
  setPointMasterSettings(input: $input) {
    settings { adjustmentUrl adjustmentEndpointId } adjustmentEndpointSecret errors { code }
  }
}"""
ROTATE = "mutation { rotatePointMasterKey { key { keyId current } secret errors { code } } }"
ADJUST = """mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    applied entry { amount source } account { balance }
    adjustment { id status keyId contactId amount source deliveryId }
    errors { code message }
  }
}"""
ADJUSTMENTS = """query($m: ID, $s: AdjustmentStatus) {
  pointAdjustments(memberId: $m, status: $s) { nodes { id status amount } }
}"""


async def follower(engine: Engine, master: Receiver, mode: PointMode) -> Tenant:
    """The fixture's tenant ("pointfollower"), its contact, an adjustment URL and a key."""
    tenant = await open_tenant(engine, "pointfollower")
    await set_point_mode(tenant.id, mode, actor="test")
    await upsert_member(tenant.id, CONTACT)
    saved = await engine.data(SETTINGS, tenant.admin, input={"adjustmentUrl": master.url + "/add"})
    assert saved["setPointMasterSettings"]["errors"] == []
    return tenant


async def rotate(engine: Engine, token: str) -> tuple[str, str]:
    rotated = (await engine.data(ROTATE, token))["rotatePointMasterKey"]
    return rotated["key"]["keyId"], rotated["secret"]


async def fixture_admin(engine: Engine, tenant: Tenant) -> str:
    """The admin the manual fixture names (its id and name), logged in."""
    await TenantAdmin.create(
        id=UUID(MANUAL["UserId"]),
        tenant_id=tenant.id,
        email="jimmy@pointfollower.test",
        name=MANUAL["UserName"],
        password_hash=hash_password(PASSWORD),
    )
    return await engine.login("jimmy@pointfollower.test")


async def adjust(engine: Engine, token: str, **fields: Any) -> dict[str, Any]:
    answer = await engine.data(ADJUST, token, input={"externalUserId": CONTACT, **fields})
    result: dict[str, Any] = answer["adjustPoints"]
    return result


async def received(master: Receiver, count: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len(master.received) >= count

    await eventually(arrived)
    return [json.loads(r.body) for r in master.received]


def readme_decrypt() -> Any:
    """The README's recipe, as a master would paste it."""
    section = README.read_text().split("## Point-master sync", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)
    return scope["decrypt_adjustment"]


async def test_a_manual_adjustment_is_sent_to_the_master(engine: Engine, master: Receiver) -> None:
    # given the fixture's follower, the admin of the fixture and a shared key
    tenant = await follower(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    admin = await fixture_admin(engine, tenant)
    key_id, key = await rotate(engine, tenant.admin)

    # when that admin adjusts the contact's points
    answer = await adjust(engine, admin, amount=40, description=MANUAL["Description"])

    # then nothing is applied here: the adjustment is on its way to the master
    adjustment = answer["adjustment"]
    assert (answer["applied"], answer["entry"], answer["errors"]) == (False, None, [])
    assert (adjustment["status"], adjustment["keyId"], adjustment["source"]) == (
        "SENT_TO_MASTER",
        key_id,
        "Manual",
    )
    assert await LedgerEntry.filter(tenant_id=tenant.id).count() == 0
    # and the master receives the webhook body, signed, whose payload decrypts (with the
    # README's recipe) to exactly the fixture's fields
    (body,) = await received(master, 1)
    assert body.keys() == {"eventType", "id", "payload", "tenant", "keyId"}
    assert (body["eventType"], body["id"], body["tenant"], body["keyId"]) == (
        "loyalty.addPoints",
        adjustment["id"],
        "pointfollower",
        key_id,
    )
    assert readme_decrypt()(master.received[0].body, {key_id: key}) == MANUAL
    assert master.received[0].headers["webhook-id"] == adjustment["deliveryId"]
    assert master.received[0].headers["x-gamifyengine-signature"]

    # and once the master answered 2xx, the adjustment shows as delivered
    async def delivered() -> bool:
        nodes = (await engine.data(ADJUSTMENTS, admin, s="DELIVERED"))["pointAdjustments"]["nodes"]
        return [n["id"] for n in nodes] == [adjustment["id"]]

    await eventually(delivered)


async def test_an_automation_adjustment_carries_its_process(
    engine: Engine, master: Receiver
) -> None:
    # given the follower and its key
    tenant = await follower(engine, master, PointMode.FOLLOWER_BALANCE)
    _, key = await rotate(engine, tenant.admin)

    # when its backend (an API key) adjusts on behalf of a workflow
    answer = await adjust(
        engine,
        tenant.api_key,
        amount=40,
        description=AUTOMATION["Description"],
        reason=AUTOMATION["Reason"],
        processId=AUTOMATION["ProcessId"],
        workflowId=AUTOMATION["WorkflowId"],
        workflowName=AUTOMATION["WorkflowName"],
    )

    # then the master decrypts exactly the automation fixture's fields
    assert answer["adjustment"]["source"] == "Automation"
    (body,) = await received(master, 1)
    assert decrypt_json(body["payload"], key) == AUTOMATION

    # and a tampered payload fails authentication instead of decrypting to something else
    raw = bytearray(base64.b64decode(body["payload"]))
    raw[len(raw) // 2] ^= 0x01
    with pytest.raises(PayloadDecryptionError):
        decrypt_json(base64.b64encode(bytes(raw)).decode(), key)


async def test_key_rotation_keeps_what_was_sent_readable(engine: Engine, master: Receiver) -> None:
    # given an adjustment sent under the first key
    tenant = await follower(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    old_id, old_key = await rotate(engine, tenant.admin)
    first = await adjust(engine, tenant.admin, amount=10)
    await received(master, 1)

    # when the key is rotated, a new adjustment is made, and the first one is replayed
    new_id, new_key = await rotate(engine, tenant.admin)
    second = await adjust(engine, tenant.admin, amount=20)
    replay = await engine.data(
        "mutation($id: ID!) { replayDelivery(id: $id) { errors { code } } }",
        tenant.admin,
        id=first["adjustment"]["deliveryId"],
    )
    assert replay["replayDelivery"]["errors"] == []
    bodies = await received(master, 3)

    # then the new adjustment uses the new key id, the old one (also replayed) the old
    # one, and each decrypts with its own key only
    by_id = {(b["id"], b["keyId"]) for b in bodies}
    assert by_id == {(first["adjustment"]["id"], old_id), (second["adjustment"]["id"], new_id)}
    assert second["adjustment"]["keyId"] == new_id != old_id
    keys = {old_id: old_key, new_id: new_key}
    for body in bodies:
        assert decrypt_json(body["payload"], keys[body["keyId"]])["Amount"] in (10, 20)
        other = new_key if body["keyId"] == old_id else old_key
        with pytest.raises(PayloadDecryptionError):
            decrypt_json(body["payload"], other)


async def test_in_master_mode_it_is_applied_here(engine: Engine, master: Receiver) -> None:
    # given a tenant that owns its points, with a master configured all the same
    tenant = await follower(engine, master, PointMode.MASTER)
    await rotate(engine, tenant.admin)

    # when an admin adjusts
    answer = await adjust(engine, tenant.admin, amount=40, description="Goodwill")

    # then it is a MANUAL ledger entry here, and the master hears nothing
    assert answer["applied"] is True and answer["adjustment"] is None
    assert answer["entry"] == {"amount": 40, "source": "MANUAL"}
    assert answer["account"]["balance"] == 40
    assert master.received == []


async def test_it_is_refused_until_the_master_can_be_reached(engine: Engine) -> None:
    # given a follower without adjustment URL, then with one but without a key
    tenant = await open_tenant(engine)
    await set_point_mode(tenant.id, PointMode.FOLLOWER_TRANSACTIONS, actor="test")
    await upsert_member(tenant.id, CONTACT)
    no_url = await adjust(engine, tenant.admin, amount=5)
    await engine.data(SETTINGS, tenant.admin, input={"adjustmentUrl": "http://127.0.0.1:9/add"})
    no_key = await adjust(engine, tenant.admin, amount=5)

    # then each says what is missing, and nothing was applied or queued
    assert no_url["errors"][0]["code"] == "NO_ADJUSTMENT_URL"
    assert no_key["errors"][0]["code"] == "NO_KEY"
    assert await PointAccount.filter(tenant_id=tenant.id, balance__gt=0).count() == 0


async def test_the_same_key_sends_once(engine: Engine, master: Receiver) -> None:
    # given a follower and its key
    tenant = await follower(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    await rotate(engine, tenant.admin)

    # when the same adjustment is sent twice with one idempotency key, then reused
    first = await adjust(engine, tenant.admin, amount=7, idempotencyKey="adj-1")
    again = await adjust(engine, tenant.admin, amount=7, idempotencyKey="adj-1")
    reused = await adjust(engine, tenant.admin, amount=8, idempotencyKey="adj-1")

    # then there is one adjustment, and the reuse for another amount is a conflict
    assert first["adjustment"]["id"] == again["adjustment"]["id"]
    assert reused["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    await received(master, 1)
    assert len(master.received) == 1


async def test_the_master_endpoint_is_not_a_fulfilment_endpoint(
    engine: Engine, master: Receiver
) -> None:
    # given a follower with its adjustment URL
    tenant = await follower(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    listed = await engine.data("{ webhookEndpoints { id url events payloadFormat } }", tenant.admin)
    (endpoint,) = listed["webhookEndpoints"]

    # when the admin edits or deletes it as a fulfilment endpoint, or makes another one
    update = await engine.data(
        'mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {url: "https://x.example"})'
        " { errors { field } } }",
        tenant.admin,
        id=endpoint["id"],
    )
    delete = await engine.data(
        "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { errors { field } } }",
        tenant.admin,
        id=endpoint["id"],
    )
    create = await engine.data(
        'mutation { createWebhookEndpoint(input: {url: "https://x.example", '
        "payloadFormat: POINT_MASTER}) { errors { field } } }",
        tenant.admin,
    )

    # then it is listed for what it is, and only its settings change it
    assert (endpoint["events"], endpoint["payloadFormat"]) == (
        ["loyalty.addPoints"],
        "POINT_MASTER",
    )
    for refused in (update["updateWebhookEndpoint"], delete["deleteWebhookEndpoint"]):
        assert refused["errors"] == [{"field": "payloadFormat"}]
    assert create["createWebhookEndpoint"]["errors"] == [{"field": "payloadFormat"}]


async def test_other_tenants_and_members_see_nothing(engine: Engine, master: Receiver) -> None:
    # given an adjustment sent for the follower's contact, and another member of it
    tenant = await follower(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    await rotate(engine, tenant.admin)
    sent = await adjust(engine, tenant.admin, amount=40)
    member = await upsert_member(tenant.id, CONTACT)
    other_member, _ = await upsert_member(tenant.id, "someone-else")
    other = await open_tenant(engine)

    # when another tenant adjusts or lists, and another member lists
    cross = await engine.data(
        ADJUST, other.admin, input={"memberId": str(member[0].id), "amount": 40}
    )
    listed = await engine.data(ADJUSTMENTS, other.admin)
    token = await engine.member_token(tenant.api_key, other_member.external_user_id)
    own = await engine.data(ADJUSTMENTS, token)
    peek = await engine.gql(ADJUSTMENTS, token, m=str(member[0].id))
    mine = await engine.data(ADJUSTMENTS, await engine.member_token(tenant.api_key, CONTACT))

    # then the foreign ids are not found and nobody else sees the adjustment
    assert cross["adjustPoints"]["errors"][0]["code"] == "NOT_FOUND"
    assert listed["pointAdjustments"]["nodes"] == []
    assert own["pointAdjustments"]["nodes"] == []
    assert peek["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [n["id"] for n in mine["pointAdjustments"]["nodes"]] == [sent["adjustment"]["id"]]
