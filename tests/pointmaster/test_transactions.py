"""Transactions upload: at most 1,000 items, deduped, pending/expiring through the grants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from core import clock
from models.members.tables import Member
from models.pointmaster.tables import SyncBatch
from models.pointmaster.uploads import apply_batch
from models.points.grants import settle_due
from models.points.tables import GrantStatus, LedgerEntry, LedgerSource, PointAccount, PointGrant
from tests.factories import make_member, make_tenant
from tests.graphql_client import graphql_value
from tests.pointmaster.conftest import Follower, fixture
from tests.pointmaster.ingest import account_of, assert_chained, post

FIXTURE_NOW = datetime(2023, 6, 1, 9, 0, tzinfo=UTC)  # just after the fixture's timeStamp


def _items(count: int, contacts: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "contactId": f"contact-{i % contacts}",
            "amount": 1 + i % 7,
            "definitionId": 1,
            "timeStamp": f"2030-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
            "source": "Purchase",
            "description": f"order {i}",
        }
        for i in range(count)
    ]


async def _accounts(tenant_id: UUID) -> dict[str, PointAccount]:
    members = {m.id: m.external_user_id for m in await Member.filter(tenant_id=tenant_id)}
    return {members[a.member_id]: a for a in await PointAccount.filter(tenant_id=tenant_id)}


async def test_fixture_accepted_as_is_pending_then_active_then_expired(
    transactions_follower: Follower,
) -> None:
    # given the master's request body, unchanged (its contactId is not a UUID)
    body = fixture("voyado_transactions_request.json")
    item = body[0]
    with clock.frozen_at(FIXTURE_NOW):
        # when it is posted and applied
        accepted = await transactions_follower.post("transactions", body)
        assert accepted.status_code == 202, accepted.text
        batch = await apply_batch(UUID(accepted.json()["id"]))
        assert batch is not None and batch.status == "Completed", batch and batch.messages

    # then the points are pending on a new account of that contact
    account = (await _accounts(transactions_follower.tenant_id))[item["contactId"]]
    assert (account.balance, account.pending) == (0, 12)

    # when validFrom passes, the cron activates them
    valid_from = datetime.fromisoformat(item["validFrom"].replace("Z", "+00:00"))
    valid_to = datetime.fromisoformat(item["validTo"].replace("Z", "+00:00"))
    assert (await settle_due(valid_from + timedelta(seconds=1))).grants == 1
    await account.refresh_from_db()
    assert (account.balance, account.pending) == (12, 0)
    entry = await LedgerEntry.get(account_id=account.id)
    assert entry.source == LedgerSource.PURCHASE and entry.description == "Gilded gauntlets"

    # and when validTo passes, they expire
    assert (await settle_due(valid_to + timedelta(seconds=1))).grants == 1
    await account.refresh_from_db()
    assert account.balance == 0
    assert (await PointGrant.get(account_id=account.id)).status == GrantStatus.EXPIRED

    # and the status endpoint answers for transaction batches too
    status = await transactions_follower.status("transactions", accepted.json()["id"])
    assert list(status.json()) == ["messages", "id", "status", "timeStamp"]
    assert status.json()["status"] == "Completed"


async def test_an_item_already_expired_is_recorded_earned_and_expired(
    transactions_follower: Follower,
) -> None:
    # given the spec's own example posted now (its validTo, in 2024, is long past): the
    # master's data is trusted, and what it says happened is recorded
    body = fixture("voyado_transactions_request.json")
    batch_id = (await transactions_follower.post("transactions", body)).json()["id"]

    # when applied
    batch = await apply_batch(UUID(batch_id))

    # then the 12 points are in the ledger as earned and as expired, the balance is 0
    assert batch is not None and (batch.status, batch.messages) == ("Completed", [])
    account = await account_of(transactions_follower.tenant_id, body[0]["contactId"])
    assert account is not None and account.balance == 0
    entries = await assert_chained(account)
    assert [(e.amount, e.source) for e in entries] == [
        (12, LedgerSource.PURCHASE),
        (-12, LedgerSource.EXPIRY),
    ]
    assert entries[0].description == "Gilded gauntlets"
    assert entries[1].description == "Expired: Gilded gauntlets"
    assert await PointGrant.filter(account_id=account.id).count() == 0


async def test_a_batch_posted_twice_concurrently_is_applied_once(
    transactions_follower: Follower,
) -> None:
    # given a 1,000-item batch
    body = _items(1000)
    expected: dict[str, int] = {}
    for item in body:
        expected[item["contactId"]] = expected.get(item["contactId"], 0) + item["amount"]

    # when it is posted twice at once, and both batches are applied at once
    first, second = await asyncio.gather(
        transactions_follower.post("transactions", body),
        transactions_follower.post("transactions", body),
    )
    assert (first.status_code, second.status_code) == (202, 202)
    ids = [UUID(first.json()["id"]), UUID(second.json()["id"])]
    assert ids[0] != ids[1]
    batches = await asyncio.gather(*(apply_batch(i) for i in ids))

    # then every item is applied exactly once
    accounts = await _accounts(transactions_follower.tenant_id)
    assert {contact: a.balance for contact, a in accounts.items()} == expected
    assert await LedgerEntry.filter(tenant_id=transactions_follower.tenant_id).count() == 1000
    assert sum(b.applied_count for b in batches if b) == 1000
    assert all(b is not None and b.status == "Completed" for b in batches)


async def test_too_many_items_is_refused_and_nothing_stored(
    transactions_follower: Follower,
) -> None:
    # when 1,001 items are posted
    response = await transactions_follower.post("transactions", _items(1001))

    # then 400 "Too many items", no batch, no points
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "TOO_MANY_ITEMS"
    assert response.json()["error"]["message"].startswith("Too many items")
    assert await SyncBatch.filter(tenant_id=transactions_follower.tenant_id).count() == 0
    assert await LedgerEntry.filter(tenant_id=transactions_follower.tenant_id).count() == 0


async def test_resent_items_and_transaction_ids(transactions_follower: Follower) -> None:
    # given items applied once, one of them with an explicit transactionId
    items = _items(3)
    items[2]["transactionId"] = "T-42"
    first = (await transactions_follower.post("transactions", items)).json()["id"]
    await apply_batch(UUID(first))

    # when they are re-sent (the first with another description: same five fields), and
    # the transactionId is re-used for different values, and a return comes in
    resent = [dict(items[0], description="other words"), items[1]]
    reused = dict(items[2], amount=99)
    returned = dict(items[1], amount=-1, source="Return", timeStamp="2030-02-01T00:00:00Z")
    second = (await transactions_follower.post("transactions", [*resent, reused, returned])).json()[
        "id"
    ]
    batch = await apply_batch(UUID(second))

    # then only the return is applied, and the reused transactionId is reported
    assert batch is not None and batch.applied_count == 1
    messages = [m["message"] for m in batch.messages]
    assert messages == [
        "Item 2: transactionId T-42 was applied with other values",
        "2 item(s) were applied before; not applied again",
    ]
    sources = await LedgerEntry.filter(tenant_id=transactions_follower.tenant_id).values_list(
        "source", flat=True
    )
    assert sorted(sources) == sorted([LedgerSource.PURCHASE] * 3 + [LedgerSource.RETURN])


async def test_an_unknown_source_is_stored_as_other_and_keeps_its_name(
    transactions_follower: Follower,
) -> None:
    # given items whose sources the engine knows, does not know, and one pending till later
    later = clock.now() + timedelta(days=2)
    body = [
        {"contactId": "c-src", "amount": 5, "definitionId": 1, "timeStamp": "2030-01-01T00:00:01Z",
         "source": "Purchase"},
        {"contactId": "c-src", "amount": 7, "definitionId": 1, "timeStamp": "2030-01-01T00:00:02Z",
         "source": "Campaign"},
        {"contactId": "c-src", "amount": 3, "definitionId": 1, "timeStamp": "2030-01-01T00:00:03Z",
         "source": "Kiosk", "validFrom": later.isoformat()},
    ]  # fmt: skip
    batch = await apply_batch(await post(transactions_follower, "transactions", body))
    assert batch is not None and batch.status == "Completed", batch and batch.messages

    # when the pending one becomes active
    assert (await settle_due(later + timedelta(seconds=1))).grants == 1

    # then the ledger, as the tenant's backend reads it, says OTHER and the master's name
    query = """query($u: String) { ledger(externalUserId: $u, first: 10) {
      nodes { amount source sourceName } } }"""
    value = await graphql_value(
        transactions_follower.http, query, {"u": "c-src"}, token=transactions_follower.api_key
    )
    entries = sorted((n["amount"], n["source"], n["sourceName"]) for n in value["nodes"])
    assert entries == [(3, "OTHER", "Kiosk"), (5, "PURCHASE", "Purchase"), (7, "OTHER", "Campaign")]


async def test_entries_not_from_the_master_have_no_source_name(db: str) -> None:
    # given points awarded by the engine itself (not a point master's item)
    member = await make_member((await make_tenant()).tenant.id, points=40)

    # then its entry has no source name
    entries = await LedgerEntry.filter(account__member_id=member.id)
    assert [(e.amount, e.source_name) for e in entries] == [(40, None)]
