"""A contact the tenant does not know becomes a member with the first item applied to it,
never with an item that is refused: no member (or account) is left half-created."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from models.members.tables import Member
from models.members.upserts import upsert_member
from models.pointmaster.uploads import apply_batch
from models.points.tables import LedgerEntry, PointAccount
from tests.pointmaster.conftest import Follower
from tests.pointmaster.ingest import account_of, post, post_and_apply, stamp

TOO_LOW = "The balance is too low for this deduction"


def _item(contact: str, amount: int, n: int, **extra: Any) -> dict[str, Any]:
    return {"contactId": contact, "amount": amount, "definitionId": 1, "timeStamp": stamp(n),
            "source": "Adjustment", **extra}  # fmt: skip


async def _members(tenant_id: UUID) -> set[str]:
    return set(await Member.filter(tenant_id=tenant_id).values_list("external_user_id", flat=True))


async def _messages(follower: Follower, batch_id: UUID) -> list[str]:
    answer = await follower.status("transactions", str(batch_id))
    return [m["message"] for m in answer.json()["messages"]]


async def test_a_contact_whose_only_item_is_refused_is_not_made_a_member(
    transactions_follower: Follower,
) -> None:
    tenant_id = transactions_follower.tenant_id
    # given an upload naming three unknown contacts: one only with a deduction it cannot
    # afford, one with a credit, one with a credit and then a deduction beyond it
    body = [
        _item("broke", -50, 1),
        _item("fine", 10, 2),
        _item("mixed", 5, 3),
        _item("mixed", -20, 4),
    ]

    # when it is applied
    batch = await post_and_apply(transactions_follower, "transactions", body)

    # then the refused items are named, and only contacts with an applied item are members
    assert batch.status == "CompletedWithErrors" and batch.applied_count == 2
    assert await _messages(transactions_follower, batch.id) == [
        f"Item 0: {TOO_LOW}",
        f"Item 3: {TOO_LOW}",
    ]
    assert await _members(tenant_id) == {"fine", "mixed"}
    mixed = await account_of(tenant_id, "mixed")
    assert mixed is not None and mixed.balance == 5
    assert await PointAccount.filter(tenant_id=tenant_id).count() == 2

    # and when the master later sends a credit for that contact, it becomes a member then
    again = await post_and_apply(transactions_follower, "transactions", [_item("broke", 7, 5)])
    assert again.status == "Completed"
    broke = await account_of(tenant_id, "broke")
    assert broke is not None and broke.balance == 7


async def test_a_known_member_gets_no_empty_account_from_a_refused_item(
    transactions_follower: Follower,
) -> None:
    # given a member the tenant knows, with no points account yet
    tenant_id = transactions_follower.tenant_id
    member, _ = await upsert_member(tenant_id, "known")

    # when the master's only item for it is a deduction it cannot afford
    batch = await post_and_apply(transactions_follower, "transactions", [_item("known", -1, 1)])

    # then it is refused, the member stays, and no account was opened for it
    assert await _messages(transactions_follower, batch.id) == [f"Item 0: {TOO_LOW}"]
    assert await Member.exists(id=member.id)
    assert not await PointAccount.exists(member_id=member.id)


async def test_a_refused_contact_in_a_later_chunk_is_not_made_a_member(
    transactions_follower: Follower,
) -> None:
    # given 300 credits to 300 new contacts (more than one chunk), then a refused deduction
    # for one more new contact and one beyond the credit of the first contact
    body = [_item(f"c-{n}", 1, n) for n in range(300)]
    body += [_item("late-broke", -5, 300), _item("c-0", -5, 301)]

    # when it is applied
    batch = await post_and_apply(transactions_follower, "transactions", body)

    # then the 300 are members with their point, the late contact is not, c-0 kept its point
    assert batch.applied_count == 300
    assert await _messages(transactions_follower, batch.id) == [
        f"Item 300: {TOO_LOW}",
        f"Item 301: {TOO_LOW}",
    ]
    members = await _members(transactions_follower.tenant_id)
    assert members == {f"c-{n}" for n in range(300)}
    first = await account_of(transactions_follower.tenant_id, "c-0")
    assert first is not None and first.balance == 1


async def test_concurrent_uploads_for_one_new_contact_make_one_member(
    transactions_follower: Follower,
) -> None:
    # given uploads applied at the same time (PostgreSQL: two transactions, one waiting on
    # the other's new member): refused deductions only, and a credit, for one new contact
    tenant_id = transactions_follower.tenant_id
    refused = [await post(transactions_follower, "transactions", [_item("new", -3, n)])
               for n in range(3)]  # fmt: skip
    credit = await post(transactions_follower, "transactions", [_item("new", 4, 10)])

    # when they are applied concurrently
    done = await asyncio.gather(*(apply_batch(b) for b in [*refused, credit]))

    # then the contact is one member, with the credit and the deductions it could afford
    assert all(batch is not None for batch in done)
    assert await _members(tenant_id) == {"new"}
    account = await account_of(tenant_id, "new")
    assert account is not None
    entries = await LedgerEntry.filter(account_id=account.id).values_list("amount", flat=True)
    assert 4 in entries and account.balance == sum(entries) and account.balance in (1, 4)
