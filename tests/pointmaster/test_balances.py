"""Balances upload: stored at once, applied by the job, out-of-order snapshots ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from models.members.tables import Member
from models.pointmaster.modes import set_definition_mode
from models.pointmaster.tables import SyncBatch
from models.pointmaster.uploads import apply_batch
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.tenancy.tables import PointMode
from tests.factories import default_definition, make_tenant
from tests.pointmaster.conftest import Follower, fixture
from workers.sync import apply_sync_batch, relay_sync_batches


def _shape(body: object) -> object:
    """The JSON shape: keys and value types, recursively."""
    if isinstance(body, dict):
        return {key: _shape(value) for key, value in body.items()}
    if isinstance(body, list):
        return [_shape(item) for item in body[:1]]
    return type(body).__name__


async def _balance(tenant_id: UUID, contact_id: str) -> int:
    member = await Member.get(tenant_id=tenant_id, external_user_id=contact_id)
    definition = await default_definition(tenant_id)
    account = await PointAccount.get(member_id=member.id, definition_id=definition.id)
    return account.balance


async def test_fixture_accepted_as_is_then_applied(balances_follower: Follower) -> None:
    # given the master's request body, unchanged
    body = fixture("voyado_balances_request.json")

    # when it is posted
    accepted = await balances_follower.post("balances", body)

    # then it is stored and answered at once, with the status body and the batch id
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["id"]
    batch = await SyncBatch.get(id=batch_id)
    assert batch.items == body and batch.status == "Pending"
    assert list(accepted.json()) == ["messages", "id", "status", "timeStamp"]

    # when the job applies it
    assert await apply_sync_batch({}, batch_id) == "Completed"

    # then each contact has a member and an account at the amount, via BALANCE_SYNC entries
    assert await _balance(balances_follower.tenant_id, body[0]["contactId"]) == 122
    assert await _balance(balances_follower.tenant_id, body[1]["contactId"]) == 63
    sources = await LedgerEntry.filter(tenant_id=balances_follower.tenant_id).values_list(
        "source", flat=True
    )
    assert sorted(sources) == [LedgerSource.BALANCE_SYNC] * 2

    # and the status endpoint answers exactly the fixture's shape
    status = await balances_follower.status("balances", batch_id)
    assert status.status_code == 200
    expected = fixture("voyado_balances_status_response.json")
    assert list(status.json()) == list(expected)
    assert status.json()["messages"] == [] and status.json()["status"] == "Completed"
    assert status.json()["id"] == batch_id
    assert _shape({**status.json(), "messages": expected["messages"]}) == _shape(expected)
    datetime.fromisoformat(status.json()["timeStamp"].replace("Z", "+00:00"))


async def test_rejections_have_the_fixture_message_shape(balances_follower: Follower) -> None:
    # given a batch with an unknown definition and a malformed item
    body = [
        {"contactId": "c-1", "amount": 5, "definitionId": 99, "timeStamp": "2023-05-16T12:20:03Z"},
        {"contactId": "c-2", "amount": -1, "definitionId": 1, "timeStamp": "2023-05-16T12:20:03Z"},
        {"contactId": "c-3", "amount": 7, "definitionId": 1, "timeStamp": "2023-05-16T12:20:03Z"},
    ]
    batch_id = (await balances_follower.post("balances", body)).json()["id"]

    # when applied
    assert await apply_sync_batch({}, batch_id) == "CompletedWithErrors"

    # then the good item is applied and each bad one has a message
    status = (await balances_follower.status("balances", batch_id)).json()
    assert _shape(status) == _shape(fixture("voyado_balances_status_response.json"))
    messages = [m["message"] for m in status["messages"]]
    assert messages[0].startswith("Item 0: definitionId 99")
    assert messages[1].startswith("Item 1: amount must not be negative")
    assert len(messages) == 2
    assert await _balance(balances_follower.tenant_id, "c-3") == 7


async def test_an_older_snapshot_never_wins(balances_follower: Follower) -> None:
    # given two snapshots of one account, the newer one applied first
    t1 = datetime(2024, 1, 1, tzinfo=UTC)

    def item(amount: int, at: datetime) -> list[dict[str, object]]:
        stamp = at.isoformat().replace("+00:00", "Z")
        return [{"contactId": "c", "amount": amount, "definitionId": 1, "timeStamp": stamp}]

    older = (await balances_follower.post("balances", item(100, t1))).json()["id"]
    newer = (await balances_follower.post("balances", item(500, t1 + timedelta(hours=1)))).json()
    assert await apply_sync_batch({}, newer["id"]) == "Completed"

    # when the older one arrives late
    assert await apply_sync_batch({}, older) == "CompletedWithErrors"

    # then the balance stays at the newer snapshot, and the status says why
    assert await _balance(balances_follower.tenant_id, "c") == 500
    status = (await balances_follower.status("balances", older)).json()
    assert "older than the last applied one" in status["messages"][0]["message"]

    # and a later snapshot moves it down with a negative BALANCE_SYNC entry
    later = (await balances_follower.post("balances", item(40, t1 + timedelta(hours=2)))).json()
    await apply_sync_batch({}, later["id"])
    assert await _balance(balances_follower.tenant_id, "c") == 40
    amounts = await LedgerEntry.filter(tenant_id=balances_follower.tenant_id).order_by("created_at")
    assert [e.amount for e in amounts] == [500, -460]


async def test_a_batch_is_applied_once_and_the_relay_finds_lost_ones(
    balances_follower: Follower,
) -> None:
    # given an accepted batch whose job was lost
    body = fixture("voyado_balances_request.json")
    batch_id = (await balances_follower.post("balances", body)).json()["id"]

    # when the relay runs, then again, and the job finally runs too
    assert await relay_sync_batches({}) == 1
    assert await relay_sync_batches({}) == 0
    assert await apply_sync_batch({}, batch_id) is None

    # then it was applied once
    assert await LedgerEntry.filter(tenant_id=balances_follower.tenant_id).count() == 2
    assert (await apply_batch(UUID(batch_id))) is None


async def test_refusals(balances_follower: Follower) -> None:
    http = balances_follower.http
    body = fixture("voyado_balances_request.json")
    # no key
    assert (await http.post("/api/v2/point-accounts/balances", json=body)).status_code == 401
    # a tenant in MASTER mode
    master = await make_tenant()
    from models.tenancy.access import create_api_key

    _, key = await create_api_key(master.tenant.id, "k")
    refused = await http.post(
        "/api/v2/point-accounts/balances", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    # (Voyado's answer: 400 "New point system not active", with our code beside it)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "WRONG_POINT_MODE"
    assert refused.json()["error"]["message"].startswith("New point system not active")
    # not an array, invalid JSON
    assert (await balances_follower.post("balances", {"a": 1})).status_code == 400
    broken = await http.post(
        "/api/v2/point-accounts/balances", content=b"[{", headers=balances_follower.headers
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "INVALID_JSON"
    # another tenant's batch, and an id that is not one
    mine = (await balances_follower.post("balances", body)).json()["id"]
    other = Follower(master.tenant.id, key, http)
    assert (await other.status("balances", mine)).status_code == 404
    assert (await balances_follower.status("balances", "nope")).status_code == 404
    assert await SyncBatch.filter(tenant_id=master.tenant.id).count() == 0


async def test_voyado_clients_send_the_key_as_apikey(balances_follower: Follower) -> None:
    # given a master configured as for Voyado, sending `apikey: <key>` instead of a bearer
    headers = {"apikey": balances_follower.api_key}
    # when it uploads and asks for the status
    posted = await balances_follower.http.post(
        "/api/v2/point-accounts/balances", json=fixture("voyado_balances_request.json"),
        headers=headers,
    )  # fmt: skip
    status = await balances_follower.http.get(
        f"/api/v2/point-accounts/balances/status/{posted.json()['id']}", headers=headers
    )
    wrong = await balances_follower.http.get(
        f"/api/v2/point-accounts/balances/status/{posted.json()['id']}",
        headers={"apikey": "gk_" + "x" * 43},
    )
    # then both are answered as with the bearer header; an unknown key is refused
    assert posted.status_code == 202 and status.status_code == 200
    assert status.json()["id"] == posted.json()["id"]
    assert wrong.status_code == 401


async def test_a_follower_whose_every_currency_overrides_its_mode_is_told_so(
    balances_follower: Follower,
) -> None:
    # given a FOLLOWER_BALANCE tenant whose only currency follows the master's transactions
    definition = await default_definition(balances_follower.tenant_id)
    await set_definition_mode(
        balances_follower.tenant_id, definition.id, PointMode.FOLLOWER_TRANSACTIONS, "test"
    )

    # when the master uploads balances
    refused = await balances_follower.post("balances", fixture("voyado_balances_request.json"))

    # then it is refused, and the message names the override, not the tenant's mode
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "WRONG_POINT_MODE"
    message = refused.json()["error"]["message"]
    assert "each of its point definitions overrides it" in message, message
