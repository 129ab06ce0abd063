"""Poison uploads: an item the database cannot hold is rejected in the batch's messages and
the rest applied; a batch that cannot be applied at all is retried a bounded number of
times, then FAILED where an admin sees it. Batches are stored as an older engine stored
them (before the API checked ranges): the worker must cope with what is already there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from core import clock
from models.members.tables import Member
from models.pointmaster.tables import SyncBatch, SyncKind, SyncStatus
from models.pointmaster.uploads import MAX_ATTEMPTS, due_batches
from models.points.tables import PointAccount
from tests.factories import default_definition
from tests.pointmaster.conftest import Follower
from workers.sync import apply_sync_batch, relay_sync_batches

STAMP = "2023-05-16T12:20:03Z"
HUGE = 2**63
BATCH = """query($id: ID!) {
  syncBatch(id: $id) { status appliedCount messages { message } }
}"""


async def _stored(tenant_id: UUID, kind: SyncKind, items: Any) -> str:
    """A batch as an older engine accepted it, with no check of its items' ranges."""
    now = clock.now()
    batch = await SyncBatch.create(
        id=uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        status=SyncStatus.PENDING,
        items=items,
        item_count=len(items) if isinstance(items, list) else 1,
        messages=[],
        created_at=now,
        updated_at=now,
    )
    return str(batch.id)


async def _balance(tenant_id: UUID, contact_id: str) -> int | None:
    member = await Member.get_or_none(tenant_id=tenant_id, external_user_id=contact_id)
    if member is None:
        return None
    definition = await default_definition(tenant_id)
    account = await PointAccount.get_or_none(member_id=member.id, definition_id=definition.id)
    return None if account is None else account.balance


def _item(contact: str, amount: int, definition: int = 1, **more: Any) -> dict[str, Any]:
    return {
        "contactId": contact,
        "amount": amount,
        "definitionId": definition,
        "timeStamp": STAMP,
        **more,
    }


async def test_balances_the_database_cannot_hold_are_rejected_and_the_rest_applied(
    balances_follower: Follower,
) -> None:
    # given a stored balances batch with an amount and a definitionId of 2^63 among good items
    tenant_id = balances_follower.tenant_id
    items = [
        _item("good-1", 10),
        _item("huge-amount", HUGE),
        _item("huge-definition", 5, HUGE),
        _item("far-past", 5, timeStamp="0001-01-01T00:00:00+01:00"),
        _item("good-2", 20),
    ]
    batch_id = await _stored(tenant_id, SyncKind.BALANCES, items)

    # when the worker applies it
    status = await apply_sync_batch({}, batch_id)

    # then the good items are applied, and each bad one is named in the messages
    assert status == "CompletedWithErrors"
    assert await _balance(tenant_id, "good-1") == 10
    assert await _balance(tenant_id, "good-2") == 20
    assert await _balance(tenant_id, "huge-amount") is None
    answer = (await balances_follower.status("balances", batch_id)).json()
    messages = [m["message"] for m in answer["messages"]]
    assert [m.split(":")[0] for m in messages] == ["Item 1", "Item 2", "Item 3"]
    assert "amount must be at most" in messages[0]
    assert "definitionId must be from" in messages[1]
    assert "out of range" in messages[2]
    assert answer["status"] == "CompletedWithErrors"


async def test_transactions_the_database_cannot_hold_are_rejected_and_the_rest_applied(
    transactions_follower: Follower,
) -> None:
    # given a stored transactions batch with 2^63 values, and credits that together would
    # take a balance past what can be read back
    tenant_id = transactions_follower.tenant_id
    items = [
        _item("good", 12, transactionId="t-1"),
        _item("huge-amount", HUGE, transactionId="t-2"),
        _item("huge-definition", 5, HUGE, transactionId="t-3"),
        _item("rich", 1_000_000_000, transactionId="t-4"),
        _item("rich", 1_000_000_000, transactionId="t-5"),
        _item("rich", 1_000_000_000, transactionId="t-6"),
        _item("far-future", 5, transactionId="t-7", timeStamp="9999-12-31T23:59:59-01:00"),
    ]
    batch_id = await _stored(tenant_id, SyncKind.TRANSACTIONS, items)

    # when the worker applies it
    status = await apply_sync_batch({}, batch_id)

    # then what can be held is applied, and the rest is named in the messages
    assert status == "CompletedWithErrors"
    assert await _balance(tenant_id, "good") == 12
    assert await _balance(tenant_id, "rich") == 2_000_000_000
    answer = (await transactions_follower.status("transactions", batch_id)).json()
    messages = [m["message"] for m in answer["messages"]]
    assert [m.split(":")[0] for m in messages] == ["Item 1", "Item 2", "Item 5", "Item 6"]
    assert "would exceed" in messages[2]
    assert "out of range" in messages[3]


async def test_a_batch_that_cannot_be_applied_fails_after_bounded_attempts(
    balances_follower: Follower,
) -> None:
    # given a stored batch whose items are not even a list (as a broken writer left it)
    tenant_id = balances_follower.tenant_id
    start = datetime(2031, 1, 1, tzinfo=UTC)
    with clock.frozen_at(start):
        batch_id = await _stored(tenant_id, SyncKind.BALANCES, 7)

        # when the relay runs every time the batch is due again
        runs = 0
        while await due_batches() and runs < 3 * MAX_ATTEMPTS:
            await relay_sync_batches({})
            runs += 1
            batch = await SyncBatch.get(id=batch_id)
            if batch.leased_until is not None:
                clock.advance(batch.leased_until - clock.now() + timedelta(seconds=1))

    # then it was tried MAX_ATTEMPTS times, and it is FAILED with a reason, for REST and GraphQL
    batch = await SyncBatch.get(id=batch_id)
    assert (runs, batch.attempts, batch.status) == (MAX_ATTEMPTS, MAX_ATTEMPTS, "Failed")
    answer = (await balances_follower.status("balances", batch_id)).json()
    assert answer["status"] == "Failed"
    assert "not applied" in answer["messages"][0]["message"]
    body = (
        await balances_follower.http.post(
            "/graphql",
            json={"query": BATCH, "variables": {"id": batch_id}},
            headers=balances_follower.headers,
        )
    ).json()
    assert body["data"]["syncBatch"]["status"] == "FAILED", body
    assert body["data"]["syncBatch"]["messages"][0]["message"] == answer["messages"][0]["message"]
    # and it is no one's work any more
    assert await due_batches(start + timedelta(days=30)) == []
