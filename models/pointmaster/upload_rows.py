"""The rows a point-master upload needs, read and created a chunk at a time, in the
chunk's transaction: a contact becomes a member only together with an item applied to it.

Creation is race-safe (INSERT ... ON CONFLICT DO NOTHING, then read back) and inserts rows
in the order of their unique key, members before accounts before snapshots, and all of them
before the chunk locks its accounts: two workers creating overlapping sets wait on each
other in one order and never deadlock (rows created by an open transaction are invisible to
others, who can only wait for them at the insert, before locking anything else).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from core import clock
from models.db.bulk_statements import insert_rows
from models.db.idempotency import IdempotencyKey
from models.members.tables import Member
from models.pointmaster.tables import BalanceSnapshot
from models.points.tables import PointAccount

NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the snapshot time of an account never synced

Pair = tuple[UUID, UUID]  # (member id, definition id): one account


async def existing_members(tenant_id: UUID, contacts: Iterable[str]) -> dict[str, UUID]:
    """contactId -> member id, for the contacts the tenant knows (nothing is created)."""
    return await _members(connections.get("default"), tenant_id, set(contacts))


@dataclass
class ChunkRows:
    """The members and accounts a chunk's items post to, read or created in the chunk's
    transaction; what was created there is dropped again if nothing was applied to it."""

    members: dict[str, UUID]  # contactId -> member id
    accounts: dict[tuple[str, UUID], UUID]  # (contactId, definition id) -> account id
    created_members: set[UUID]
    created_accounts: set[UUID]

    async def drop_unused(self, conn: BaseDBAsyncClient, used_accounts: set[UUID]) -> None:
        """Delete the accounts and members created in this transaction that no applied item
        uses: a contact whose items were all refused is not left behind as a member. Nobody
        else has seen them (the transaction has not committed), so this races with nothing."""
        unused = self.created_accounts - used_accounts
        if unused:
            await BalanceSnapshot.filter(account_id__in=list(unused)).using_db(conn).delete()
            await PointAccount.filter(id__in=list(unused)).using_db(conn).delete()
        owners = {self.members[c] for (c, _), a in self.accounts.items() if a in used_accounts}
        if empty := self.created_members - owners:
            await Member.filter(id__in=list(empty)).using_db(conn).delete()


async def chunk_rows(
    conn: BaseDBAsyncClient, tenant_id: UUID, pairs: set[tuple[str, UUID]]
) -> ChunkRows:
    """Members and accounts for (contactId, definition id) pairs, created on first use."""
    members, created_members = await _ensure_members(conn, tenant_id, {c for c, _ in pairs})
    by_member = {(members[c], d): (c, d) for c, d in pairs}
    accounts, created_accounts = await _ensure_accounts(conn, tenant_id, set(by_member))
    return ChunkRows(
        members,
        {by_member[pair]: account for pair, account in accounts.items()},
        created_members,
        created_accounts,
    )


async def _ensure_members(
    conn: BaseDBAsyncClient, tenant_id: UUID, wanted: set[str]
) -> tuple[dict[str, UUID], set[UUID]]:
    """contactId -> member id, creating the members the tenant does not know yet; and the
    ids created here."""
    found = await _members(conn, tenant_id, wanted)
    missing = sorted(wanted - found.keys())
    now = clock.now()
    rows = [
        {"id": uuid4(), "tenant_id": tenant_id, "external_user_id": c, "created_at": now,
         "updated_at": now}
        for c in missing
    ]  # fmt: skip
    created = await _insert(conn, Member, rows, ("external_user_id", "id"))
    found.update({str(r["external_user_id"]): as_uuid(r["id"]) for r in created})
    if len(created) < len(missing):  # created meanwhile by another worker
        found.update(await _members(conn, tenant_id, wanted - found.keys()))
    return found, {as_uuid(r["id"]) for r in created}


async def _members(conn: BaseDBAsyncClient, tenant_id: UUID, contacts: set[str]) -> dict[str, UUID]:
    if not contacts:
        return {}
    rows = (
        await Member.filter(tenant_id=tenant_id, external_user_id__in=list(contacts))
        .using_db(conn)
        .values_list("external_user_id", "id")
    )
    return {str(contact): as_uuid(member_id) for contact, member_id in rows}


async def _ensure_accounts(
    conn: BaseDBAsyncClient, tenant_id: UUID, wanted: set[Pair]
) -> tuple[dict[Pair, UUID], set[UUID]]:
    """(member, definition) -> account id, creating the accounts on first use; and the ids
    created here."""
    found = await _accounts(conn, wanted)
    missing = sorted(wanted - found.keys())
    now = clock.now()
    rows = [
        {"id": uuid4(), "tenant_id": tenant_id, "member_id": m, "definition_id": d,
         "balance": 0, "pending": 0, "created_at": now}
        for m, d in missing
    ]  # fmt: skip
    created = await _insert(conn, PointAccount, rows, ("member_id", "definition_id", "id"))
    found.update(
        {(as_uuid(r["member_id"]), as_uuid(r["definition_id"])): as_uuid(r["id"]) for r in created}
    )
    if len(created) < len(missing):
        found.update(await _accounts(conn, wanted - found.keys()))
    return found, {as_uuid(r["id"]) for r in created}


async def _accounts(conn: BaseDBAsyncClient, pairs: set[Pair]) -> dict[Pair, UUID]:
    if not pairs:
        return {}
    rows = (
        await PointAccount.filter(
            member_id__in=list({m for m, _ in pairs}),
            definition_id__in=list({d for _, d in pairs}),
        )
        .using_db(conn)
        .values_list("member_id", "definition_id", "id")
    )
    found = {(as_uuid(m), as_uuid(d)): as_uuid(a) for m, d, a in rows}
    return {pair: account for pair, account in found.items() if pair in pairs}


async def ensure_snapshots(
    conn: BaseDBAsyncClient, tenant_id: UUID, account_ids: Iterable[UUID]
) -> None:
    """Every account a balance item names gets its snapshot row (at NEVER) once."""
    wanted = set(account_ids)
    if not wanted:
        return
    have = (
        await BalanceSnapshot.filter(account_id__in=list(wanted))
        .using_db(conn)
        .values_list("account_id", flat=True)
    )
    now = clock.now()
    rows = [
        {"id": uuid4(), "tenant_id": tenant_id, "account_id": a, "snapshot_at": NEVER,
         "amount": 0, "updated_at": now}
        for a in sorted(wanted - {as_uuid(a) for a in have})
    ]  # fmt: skip
    await _insert(conn, BalanceSnapshot, rows, ("id",))


async def _insert(
    conn: BaseDBAsyncClient,
    model: type[Model],
    rows: list[dict[str, Any]],
    returning: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Rows that exist already (a concurrent worker's) are skipped and not returned; one
    that a concurrent transaction is inserting makes this one wait for its outcome."""
    return await insert_rows(conn, model, rows, ignore_conflicts=True, returning=returning)


@dataclass(frozen=True)
class KeyClaim:
    claim_id: UUID  # the idempotency_key row's id
    scope: str
    key: str
    fingerprint: str
    result_id: UUID  # the posting the key answers with


async def claim_keys(
    conn: BaseDBAsyncClient, tenant_id: UUID, claims: list[KeyClaim]
) -> set[tuple[str, str]]:
    """Insert the keys that nobody holds; returns the (scope, key) pairs claimed here.

    A key another transaction is inserting makes this one wait until it ends (the unique
    index), then it counts as held if that transaction committed.
    """
    now = clock.now()
    rows = [
        {"id": c.claim_id, "tenant_id": tenant_id, "scope": c.scope, "key": c.key,
         "request_hash": c.fingerprint, "result_id": str(c.result_id), "created_at": now}
        for c in sorted(claims, key=lambda c: (c.scope, c.key))
    ]  # fmt: skip
    claimed = await insert_rows(
        conn, IdempotencyKey, rows, ignore_conflicts=True, returning=("scope", "key")
    )
    return {(str(r["scope"]), str(r["key"])) for r in claimed}


async def key_fingerprints(
    conn: BaseDBAsyncClient, tenant_id: UUID, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(scope, key) -> the fingerprint of the request that used it, for keys in use."""
    if not keys:
        return {}
    rows = (
        await IdempotencyKey.filter(
            tenant_id=tenant_id,
            scope__in=list({s for s, _ in keys}),
            key__in=list({k for _, k in keys}),
        )
        .using_db(conn)
        .values_list("scope", "key", "request_hash")
    )
    return {(str(s), str(k)): str(h) for s, k, h in rows if (s, k) in keys}


async def release_keys(conn: BaseDBAsyncClient, claim_ids: list[UUID]) -> None:
    """Give back keys claimed in this transaction for items that were then refused."""
    if claim_ids:
        await IdempotencyKey.filter(id__in=claim_ids).using_db(conn).delete()


def as_uuid(value: object) -> UUID:
    """A UUID column's value as read (a UUID on PostgreSQL, a string on SQLite)."""
    return value if isinstance(value, UUID) else UUID(str(value))
