"""The rows a point-master upload needs, read and created a batch or chunk at a time.

Creation is race-safe (INSERT ... ON CONFLICT DO NOTHING, then read back) and inserts rows
in the order of their unique key, so two workers creating overlapping sets wait on each
other in one order and never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from core import clock
from models.idempotency import IdempotencyKey
from models.members import Member
from models.pointmaster import BalanceSnapshot
from models.points import PointAccount

NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the snapshot time of an account never synced

Pair = tuple[UUID, UUID]  # (member id, definition id): one account


async def ensure_members(tenant_id: UUID, contacts: Iterable[str]) -> dict[str, UUID]:
    """contactId -> member id, creating the members the tenant does not know yet."""
    wanted = set(contacts)
    found = await _members(tenant_id, wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        await Member.bulk_create(
            [Member(id=uuid4(), tenant_id=tenant_id, external_user_id=c) for c in missing],
            ignore_conflicts=True,
        )
        found.update(await _members(tenant_id, set(missing)))
    return found


async def _members(tenant_id: UUID, contacts: set[str]) -> dict[str, UUID]:
    if not contacts:
        return {}
    rows = await Member.filter(
        tenant_id=tenant_id, external_user_id__in=list(contacts)
    ).values_list("external_user_id", "id")
    return {str(contact): as_uuid(member_id) for contact, member_id in rows}


async def ensure_accounts(tenant_id: UUID, pairs: Iterable[Pair]) -> dict[Pair, UUID]:
    """(member, definition) -> account id, creating the accounts on first use."""
    wanted = set(pairs)
    found = await _accounts(wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        await PointAccount.bulk_create(
            [
                PointAccount(id=uuid4(), tenant_id=tenant_id, member_id=m, definition_id=d)
                for m, d in missing
            ],
            ignore_conflicts=True,
        )
        found.update(await _accounts(set(missing)))
    return found


async def _accounts(pairs: set[Pair]) -> dict[Pair, UUID]:
    if not pairs:
        return {}
    rows = await PointAccount.filter(
        member_id__in=list({m for m, _ in pairs}), definition_id__in=list({d for _, d in pairs})
    ).values_list("member_id", "definition_id", "id")
    found = {(as_uuid(m), as_uuid(d)): as_uuid(a) for m, d, a in rows}
    return {pair: account for pair, account in found.items() if pair in pairs}


async def ensure_snapshots(tenant_id: UUID, account_ids: Iterable[UUID]) -> None:
    """Every account a balance item names gets its snapshot row (at NEVER) once."""
    wanted = set(account_ids)
    if not wanted:
        return
    have = await BalanceSnapshot.filter(account_id__in=list(wanted)).values_list(
        "account_id", flat=True
    )
    missing = sorted(wanted - {as_uuid(a) for a in have})
    if missing:
        now = clock.now()
        await BalanceSnapshot.bulk_create(
            [
                BalanceSnapshot(
                    id=uuid4(),
                    tenant_id=tenant_id,
                    account_id=a,
                    snapshot_at=NEVER,
                    amount=0,
                    updated_at=now,
                )
                for a in missing
            ],
            ignore_conflicts=True,
        )


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

    A key another transaction is inserting makes this one wait until it ends (PostgreSQL's
    unique index), then it counts as held if that transaction committed.
    """
    if not claims:
        return set()
    claims = sorted(claims, key=lambda c: (c.scope, c.key))
    now = clock.now()
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            'INSERT INTO "idempotency_key" '
            '("id", "tenant_id", "scope", "key", "request_hash", "result_id", "created_at") '
            "SELECT u.id, $1::uuid, u.scope, u.key, u.hash, u.result, $2::timestamptz "
            "FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[]) "
            "AS u(id, scope, key, hash, result) ORDER BY u.scope, u.key "
            'ON CONFLICT DO NOTHING RETURNING "scope", "key"',
            [tenant_id, now, [c.claim_id for c in claims], [c.scope for c in claims],
             [c.key for c in claims], [c.fingerprint for c in claims],
             [str(c.result_id) for c in claims]],
        )  # fmt: skip
    else:
        rows = await conn.execute_query_dict(
            'INSERT INTO "idempotency_key" '
            '("id", "tenant_id", "scope", "key", "request_hash", "result_id", "created_at") '
            "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(claims)) + " "
            'ON CONFLICT DO NOTHING RETURNING "scope", "key"',
            [
                value
                for c in claims
                for value in (str(c.claim_id), str(tenant_id), c.scope, c.key, c.fingerprint,
                              str(c.result_id), now)
            ],
        )  # fmt: skip
    return {(str(r["scope"]), str(r["key"])) for r in rows}


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
