"""Helpers of the ingest tests: post an upload, apply it, read an account and its ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from models.members.tables import Member
from models.pointmaster.tables import SyncBatch
from models.pointmaster.uploads import apply_batch
from models.points.tables import LedgerEntry, PointAccount
from tests.pointmaster.conftest import Follower

BASE = datetime(2030, 1, 1, tzinfo=UTC)


def stamp(seconds: float, base: datetime = BASE) -> str:
    """A master's timeStamp, `seconds` after `base`."""
    return (base + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def purchase(contact: str, amount: int, n: int, **extra: Any) -> dict[str, Any]:
    """A transaction item; `n` makes its timeStamp (and so the item) distinct."""
    source = "Return" if amount < 0 else "Purchase"
    item = {"contactId": contact, "amount": amount, "definitionId": 1, "timeStamp": stamp(n),
            "source": source, "description": f"item {n}"}  # fmt: skip
    item.update(extra)
    return item


async def post(follower: Follower, what: str, body: list[dict[str, Any]]) -> UUID:
    response = await follower.post(what, body)
    assert response.status_code == 202, response.text
    return UUID(response.json()["id"])


async def post_and_apply(follower: Follower, what: str, body: list[dict[str, Any]]) -> SyncBatch:
    batch = await apply_batch(await post(follower, what, body))
    assert batch is not None
    return batch


async def account_of(tenant_id: UUID, contact: str) -> PointAccount | None:
    member = await Member.get_or_none(tenant_id=tenant_id, external_user_id=contact)
    if member is None:
        return None
    return await PointAccount.get_or_none(member_id=member.id)


async def ledger(account: PointAccount) -> list[LedgerEntry]:
    """The account's entries in the order the ledger lists them (oldest first)."""
    return await LedgerEntry.filter(account_id=account.id).order_by("created_at", "id")


async def assert_chained(account: PointAccount) -> list[LedgerEntry]:
    """Each entry starts where the previous one ended, and the last one ends at the balance."""
    entries = await ledger(account)
    balance = 0
    for entry in entries:
        assert (entry.balance_before, entry.balance_after) == (balance, balance + entry.amount), (
            entry.description
        )
        balance = entry.balance_after
    await account.refresh_from_db()
    assert account.balance == balance
    return entries
