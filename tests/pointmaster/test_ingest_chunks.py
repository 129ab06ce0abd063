"""Transactions uploads applied a chunk per database transaction: what crosses a chunk
boundary behaves as if every item were applied one after the other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core import clock
from models.members.tables import Member
from models.pointmaster.applying import CHUNK_ITEMS
from models.points.grants import settle_due
from models.points.tables import GrantStatus, LedgerEntry, PointGrant
from tests.pointmaster.conftest import Follower
from tests.pointmaster.ingest import (
    account_of,
    assert_chained,
    post_and_apply,
    purchase,
    stamp,
)


async def test_one_account_many_times_chains_before_and_after_across_chunks(
    transactions_follower: Follower,
) -> None:
    # given 2 chunks and a bit of items for one contact, credits and deductions
    count = 2 * CHUNK_ITEMS + 7
    body = [purchase("c-1", -5 if n % 4 == 3 else 7, n) for n in range(count)]

    # when it is applied
    batch = await post_and_apply(transactions_follower, "transactions", body)

    # then every item is posted once, in item order, each from where the previous ended
    assert (batch.status, batch.applied_count, batch.messages) == ("Completed", count, [])
    account = await account_of(transactions_follower.tenant_id, "c-1")
    assert account is not None
    entries = await assert_chained(account)
    assert [e.description for e in entries] == [f"item {n}" for n in range(count)]
    assert account.balance == sum(item["amount"] for item in body)


async def test_duplicates_within_and_across_chunks_are_applied_once(
    transactions_follower: Follower,
) -> None:
    # given distinct items over two chunks, into which copies of earlier items are put:
    # one in the same chunk, one in the next, and an item with a transactionId twice
    distinct = [purchase(f"c-{n % 9}", 1 + n % 5, n) for n in range(CHUNK_ITEMS + 20)]
    distinct[1]["transactionId"] = "T-1"
    body = list(distinct)
    body.insert(5, dict(distinct[0]))
    body.insert(CHUNK_ITEMS + 10, dict(distinct[3], description="same five fields"))
    body.insert(CHUNK_ITEMS + 15, dict(distinct[1]))

    # when it is applied
    batch = await post_and_apply(transactions_follower, "transactions", body)

    # then each distinct item is applied once, and the copies are counted as re-sends
    assert (batch.status, batch.applied_count) == ("Completed", len(distinct))
    assert [m["message"] for m in batch.messages] == [
        "3 item(s) were applied before; not applied again"
    ]
    tenant_id = transactions_follower.tenant_id
    assert await LedgerEntry.filter(tenant_id=tenant_id).count() == len(distinct)
    for n in range(9):
        account = await account_of(tenant_id, f"c-{n}")
        assert account is not None
        await assert_chained(account)
        expected = sum(i["amount"] for i in distinct if i["contactId"] == f"c-{n}")
        assert account.balance == expected

    # and when the whole upload is sent again, nothing is applied twice
    again = await post_and_apply(transactions_follower, "transactions", body)
    assert (again.status, again.applied_count) == ("Completed", 0)
    assert again.messages[0]["message"] == (
        f"{len(body)} item(s) were applied before; not applied again"
    )
    assert await LedgerEntry.filter(tenant_id=tenant_id).count() == len(distinct)


async def test_a_batch_mixing_applied_and_rejected_items(transactions_follower: Follower) -> None:
    # given an upload whose items are good and bad in every way a master can get them wrong
    body = [
        purchase("a", 100, 0),
        dict(purchase("a", 100, 1), amount="lots"),
        purchase("a", 100, 2, definitionId=99),
        purchase("past", 100, 3, validTo="2020-01-01T00:00:00Z"),
        purchase("a", -500, 4),
        purchase("a", -40, 5),
        purchase("b", 5, 6),
        purchase("a", 0, 7),
        purchase("never", 0, 8),
    ]

    # when it is applied
    batch = await post_and_apply(transactions_follower, "transactions", body)

    # then the good items are applied and each bad one has its message, in item order
    assert (batch.status, batch.applied_count) == ("CompletedWithErrors", 4)
    assert [m["message"] for m in batch.messages] == [
        "Item 1: amount must be an integer",
        "Item 2: definitionId 99 is not a point definition",
        "Item 4: The balance is too low for this deduction",
        "Item 7: Amount must be non-zero and at most 10^9",
        "Item 8: Amount must be non-zero and at most 10^9",
    ]
    tenant_id = transactions_follower.tenant_id
    a, b = await account_of(tenant_id, "a"), await account_of(tenant_id, "b")
    assert a is not None and b is not None
    assert [e.amount for e in await assert_chained(a)] == [100, -40]
    assert (await assert_chained(b))[0].amount == 5
    # and the item that expired before it arrived is recorded earned and expired
    past = await account_of(tenant_id, "past")
    assert past is not None and [e.amount for e in await assert_chained(past)] == [100, -100]
    # and a contact whose only item was refused was not made a member
    assert await Member.filter(tenant_id=tenant_id, external_user_id="never").count() == 0

    # and the refused deduction was not marked as applied: re-sent once the points are
    # there, it is applied
    await post_and_apply(transactions_follower, "transactions", [purchase("a", 1000, 8)])
    resent = await post_and_apply(transactions_follower, "transactions", [body[4]])
    assert (resent.status, resent.applied_count) == ("Completed", 1)
    assert [e.amount for e in await assert_chained(a)] == [100, -40, 1000, -500]


async def test_expiring_points_are_spent_first_within_and_across_batches(
    transactions_follower: Follower,
) -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)
    base = now - timedelta(days=1)
    in_days = {d: (now + timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (1, 5, 10)}
    with clock.frozen_at(now):
        # given, in one upload: two expiring lots, plain points, a deduction, pending points
        body = [
            purchase("e", 100, 0, validTo=in_days[10], timeStamp=stamp(0, base)),
            purchase("e", 50, 1, validTo=in_days[5], timeStamp=stamp(1, base)),
            purchase("e", 30, 2, timeStamp=stamp(2, base)),
            purchase("e", -70, 3, timeStamp=stamp(3, base)),
            purchase("e", 20, 4, validFrom=in_days[1], timeStamp=stamp(4, base)),
        ]

        # when it is applied, and a deduction comes in a later upload
        first = await post_and_apply(transactions_follower, "transactions", body)
        clock.advance(timedelta(seconds=1))
        later = [purchase("e", -10, 5, timeStamp=stamp(5, base))]
        second = await post_and_apply(transactions_follower, "transactions", later)

    # then the soonest-expiring lot was spent first, then the other; pending waits
    assert (first.applied_count, second.applied_count) == (5, 1)
    account = await account_of(transactions_follower.tenant_id, "e")
    assert account is not None
    assert (account.balance, account.pending) == (100, 20)
    grants = {g.amount: g for g in await PointGrant.filter(account_id=account.id)}
    assert (grants[50].remaining, grants[100].remaining) == (0, 70)
    assert grants[20].status == GrantStatus.PENDING

    # and as time passes: the pending points activate, the spent lot expires with nothing
    # left, and the other lot expires with what was not spent
    for days in (2, 6, 11):
        await settle_due(now + timedelta(days=days))
    await account.refresh_from_db()
    assert (account.balance, account.pending) == (100 + 20 - 70, 0)
    await assert_chained(account)


async def test_snapshots_of_one_account_across_chunks_keep_the_newest(
    balances_follower: Follower,
) -> None:
    # given one upload with several snapshots of account "c" in two chunks, out of order,
    # among other accounts' totals
    def total(contact: str, amount: int, hour: int) -> dict[str, object]:
        return {"contactId": contact, "amount": amount, "definitionId": 1,
                "timeStamp": stamp(3600 * hour)}  # fmt: skip

    body = [total(f"other-{n}", n, 1) for n in range(CHUNK_ITEMS + 10)]
    body[3] = total("c", 100, 1)
    body[7] = total("c", 300, 3)
    body[CHUNK_ITEMS + 2] = total("c", 200, 2)  # older than the one applied before
    body[CHUNK_ITEMS + 4] = total("c", 300, 3)  # the same snapshot again
    body[CHUNK_ITEMS + 6] = total("c", 40, 4)

    # when it is applied
    batch = await post_and_apply(balances_follower, "balances", body)

    # then "c" went through its snapshots in time order, the older one said ignored
    account = await account_of(balances_follower.tenant_id, "c")
    assert account is not None
    assert [e.amount for e in await assert_chained(account)] == [100, 200, -260]
    assert account.balance == 40
    messages = [m["message"] for m in batch.messages]
    assert messages == [
        f"Item {CHUNK_ITEMS + 2}: snapshot of {stamp(7200)[:-1]}.000Z is older than the last "
        f"applied one ({stamp(3 * 3600)[:-1]}.000Z); ignored",
        "1 item(s) were applied before; not applied again",
    ]
    assert (batch.status, batch.applied_count) == ("CompletedWithErrors", len(body) - 2)
