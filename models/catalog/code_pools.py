"""Voucher code pools, as admins keep them: attach, upload, generate, burn, count, export.

A pool belongs to one reward; its FREE, unexpired codes bound the reward's availability
(models.catalog.code_draws draws them). Codes are secrets a member pays for: they appear
in no error message and no log line, only in the counts of what an upload did.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Count

from core import clock
from core.errors import ErrorCode, InvalidInput
from models.catalog.codes import CatalogCode
from models.catalog.rewards import get_reward
from models.catalog.tables import CodePool, Reward, VoucherCode, VoucherCodeStatus
from models.db.bulk_statements import insert_rows
from models.db.transactions import atomic
from models.tenancy.facts import facts_changed, tenant_facts

MAX_CODES_PER_REQUEST = 100_000
MAX_CODE_LENGTH = 100
DEFAULT_CHARSET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand
DEFAULT_LENGTH = 12
SLOT = "#"
# A generated pool stays unguessable: at most one in GUESSES_PER_CODE possible codes exists.
GUESSES_PER_CODE = 10_000
_CHUNK = 1000
_GENERATE_ROUNDS = 5
_PRINTABLE = frozenset(string.printable) - frozenset(string.whitespace)


@dataclass(frozen=True)
class CodeEntry:
    code: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CodeUpload:
    added: int
    duplicates: int  # already in the pool, or repeated in the request
    invalid: int  # empty, too long, spaces or control characters, or already expired


@dataclass(frozen=True)
class PoolStats:
    size: int  # every code ever added
    free: int  # FREE and not expired: what redemptions can still draw
    used: int  # ASSIGNED to a redemption
    burnt: int
    expired: int  # FREE but past their expiry


async def pool_of(tenant_id: UUID, reward_id: UUID) -> CodePool | None:
    await get_reward(tenant_id, reward_id)  # a foreign reward is "not found"
    return await CodePool.get_or_none(reward_id=reward_id, tenant_id=tenant_id)


async def attach_pool(
    tenant_id: UUID, reward_id: UUID, low_stock_threshold: int | None = None
) -> CodePool:
    """The reward's pool, created on first use; the threshold set (None clears it)."""
    if low_stock_threshold is not None and low_stock_threshold < 1:
        raise InvalidInput("Must be at least 1", field="lowStockThreshold", code=ErrorCode.INVALID)
    await _changeable(tenant_id, reward_id)
    pool = await _ensure_pool(tenant_id, reward_id)
    # A new threshold arms the announcement again.
    await CodePool.filter(id=pool.id).update(
        low_stock_threshold=low_stock_threshold, low_stock_sent_at=None
    )
    await pool.refresh_from_db()
    return pool


async def _ensure_pool(tenant_id: UUID, reward_id: UUID) -> CodePool:
    """The reward's pool, created on first use (not for an archived reward)."""
    pool = await pool_of(tenant_id, reward_id)
    if pool is not None:
        return pool
    reward = await _changeable(tenant_id, reward_id)
    await CodePool.bulk_create(
        [CodePool(tenant_id=tenant_id, reward_id=reward.id)], ignore_conflicts=True
    )
    facts_changed(tenant_id)  # the catalog counts the new pool's codes
    return await CodePool.get(reward_id=reward.id)


async def _changeable(tenant_id: UUID, reward_id: UUID) -> Reward:
    """The tenant's reward, if its pool may change (not once it is archived)."""
    reward = await get_reward(tenant_id, reward_id)
    if reward.archived_at is not None:
        raise InvalidInput(
            "An archived reward cannot change", field="rewardId", code=CatalogCode.ARCHIVED
        )
    return reward


def _valid(entry: CodeEntry, now: datetime) -> bool:
    code = entry.code
    if not code or len(code) > MAX_CODE_LENGTH or not all(c in _PRINTABLE for c in code):
        return False
    return entry.expires_at is None or entry.expires_at > now


async def add_codes(tenant_id: UUID, reward_id: UUID, entries: Iterable[CodeEntry]) -> CodeUpload:
    """Add codes to the reward's pool (made if missing); duplicates and invalid ones are
    counted and left out, the rest added in one transaction."""
    entries = list(entries)
    if len(entries) > MAX_CODES_PER_REQUEST:
        raise InvalidInput(
            f"Send at most {MAX_CODES_PER_REQUEST} codes a request",
            field="codes",
            code=ErrorCode.INVALID,
        )
    pool = await _ensure_pool(tenant_id, reward_id)
    now = clock.now()
    fresh: dict[str, datetime | None] = {}
    invalid = duplicates = 0
    for entry in entries:
        code = entry.code.strip() if isinstance(entry.code, str) else ""
        if not _valid(CodeEntry(code, entry.expires_at), now):
            invalid += 1
        elif code in fresh:
            duplicates += 1
        else:
            fresh[code] = entry.expires_at
    added = await _insert(pool, fresh, now)
    duplicates += len(fresh) - added
    await rearm_low_stock(pool, now)
    return CodeUpload(added=added, duplicates=duplicates, invalid=invalid)


async def _insert(pool: CodePool, fresh: dict[str, datetime | None], now: datetime) -> int:
    """Insert the codes not yet in the pool, in order; how many were inserted. The pool's
    unique (pool, code) skips the others, also those a concurrent upload adds meanwhile.
    (A look-up first was planned once, on the table as it stood: on PostgreSQL a seq scan
    per chunk over the codes inserted so far, minutes for 100,000.)"""
    rows = [
        {
            "pool_id": pool.id,
            "code": code,
            "expires_at": expires_at,
            "status": VoucherCodeStatus.FREE.value,
            "created_at": now,
        }
        for code, expires_at in fresh.items()
    ]
    added = 0
    async with atomic() as conn:
        for start in range(0, len(rows), _CHUNK):
            inserted = await insert_rows(
                conn,
                VoucherCode,
                rows[start : start + _CHUNK],
                ignore_conflicts=True,
                returning=("id",),
            )
            added += len(inserted)
    return added


@dataclass(frozen=True)
class CodePattern:
    """`pattern` with one random character of `charset` per `#`; without a pattern,
    `length` random characters."""

    pattern: str | None = None
    charset: str = DEFAULT_CHARSET
    length: int = DEFAULT_LENGTH

    def checked(self) -> CodePattern:
        charset = "".join(dict.fromkeys(self.charset))  # each character once, in order
        if len(charset) < 2 or not all(c in _PRINTABLE for c in charset):
            raise InvalidInput(
                "Use at least 2 distinct letters, digits or symbols (no spaces)",
                field="charset",
                code=ErrorCode.INVALID,
            )
        if self.pattern is None:
            if not 4 <= self.length <= 64:
                raise InvalidInput("Use a length of 4-64", field="length", code=ErrorCode.INVALID)
            return CodePattern(None, charset, self.length)
        if SLOT not in self.pattern:
            raise InvalidInput(
                f"Put at least one {SLOT} where a random character goes",
                field="pattern",
                code=ErrorCode.INVALID,
            )
        if len(self.pattern) > MAX_CODE_LENGTH or not all(c in _PRINTABLE for c in self.pattern):
            raise InvalidInput(
                f"Use at most {MAX_CODE_LENGTH} characters, no spaces",
                field="pattern",
                code=ErrorCode.INVALID,
            )
        return CodePattern(self.pattern, charset, self.length)

    @property
    def possible(self) -> int:
        slots = self.pattern.count(SLOT) if self.pattern is not None else self.length
        return int(len(self.charset) ** slots)

    def make(self) -> str:
        if self.pattern is None:
            return "".join(secrets.choice(self.charset) for _ in range(self.length))
        return "".join(secrets.choice(self.charset) if c == SLOT else c for c in self.pattern)


async def generate_codes(
    tenant_id: UUID,
    reward_id: UUID,
    count: int,
    pattern: CodePattern,
    expires_at: datetime | None = None,
) -> CodeUpload:
    """`count` new random codes (the `secrets` module: unguessable from the others)."""
    if not 1 <= count <= MAX_CODES_PER_REQUEST:
        raise InvalidInput(
            f"Generate 1-{MAX_CODES_PER_REQUEST} codes a request",
            field="count",
            code=ErrorCode.INVALID,
        )
    pattern = pattern.checked()
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("The expiry is in the past", field="expiresAt", code=ErrorCode.INVALID)
    pool = await _ensure_pool(tenant_id, reward_id)
    existing = await VoucherCode.filter(pool_id=pool.id).count()
    if pattern.possible < (existing + count) * GUESSES_PER_CODE:
        raise InvalidInput(
            f"This pattern makes {pattern.possible} different codes: too few for "
            f"{existing + count} codes to stay unguessable (one in {GUESSES_PER_CODE}); "
            "use more random characters or a larger charset",
            field="pattern",
            code=ErrorCode.INVALID,
        )
    added = 0
    for _ in range(_GENERATE_ROUNDS):  # a collision with an existing code is drawn again
        fresh: dict[str, datetime | None] = {}
        while len(fresh) < count - added:
            fresh[pattern.make()] = expires_at
        added += await _insert(pool, fresh, now)
        if added == count:
            break
    await rearm_low_stock(pool, now)
    return CodeUpload(added=added, duplicates=0, invalid=0)


async def burn_codes(tenant_id: UUID, reward_id: UUID, codes: list[str]) -> int:
    """Withdraw codes for good (leaked, or the code of a failed redemption that must not
    be handed out again): FREE and ASSIGNED codes become BURNT. How many were burnt."""
    if len(codes) > MAX_CODES_PER_REQUEST:
        raise InvalidInput(
            f"Send at most {MAX_CODES_PER_REQUEST} codes a request",
            field="codes",
            code=ErrorCode.INVALID,
        )
    pool = await pool_of(tenant_id, reward_id)
    if pool is None:
        return 0
    burnt = 0
    wanted = list(dict.fromkeys(c.strip() for c in codes))
    for start in range(0, len(wanted), _CHUNK):
        burnt += await VoucherCode.filter(
            pool_id=pool.id,
            code__in=wanted[start : start + _CHUNK],
            status__in=[VoucherCodeStatus.FREE, VoucherCodeStatus.ASSIGNED],
        ).update(status=VoucherCodeStatus.BURNT)
    return burnt


def drawable(now: datetime) -> Q:
    """Codes a redemption may draw now."""
    return Q(status=VoucherCodeStatus.FREE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


async def pool_stats(pool: CodePool, now: datetime | None = None) -> PoolStats:
    now = now or clock.now()
    by_status: dict[str, int] = dict(
        await VoucherCode.filter(pool_id=pool.id)
        .annotate(n=Count("id"))
        .group_by("status")
        .values_list("status", "n")
    )
    free_all = by_status.get(VoucherCodeStatus.FREE.value, 0)
    free = await VoucherCode.filter(Q(pool_id=pool.id) & drawable(now)).count() if free_all else 0
    return PoolStats(
        size=sum(by_status.values()),
        free=free,
        used=by_status.get(VoucherCodeStatus.ASSIGNED.value, 0),
        burnt=by_status.get(VoucherCodeStatus.BURNT.value, 0),
        expired=free_all - free,
    )


async def codes_left(tenant_id: UUID, reward_ids: list[UUID], now: datetime) -> dict[UUID, int]:
    """For the rewards among these that have a pool: how many codes they can still hand
    out, counted up to 1 (the catalog needs "any left?" only). Which rewards have a pool
    is a tenant fact (cached): a catalog without pooled rewards reads nothing here."""
    pools = (await tenant_facts(tenant_id)).code_pools
    left: dict[UUID, int] = {}
    for reward_id in reward_ids:
        if reward_id in pools:
            found = await VoucherCode.filter(Q(pool_id=pools[reward_id]) & drawable(now)).exists()
            left[reward_id] = int(found)
    return left


async def export_rows(pool: CodePool) -> AsyncIterator[list[dict[str, Any]]]:
    """The pool's codes in upload order, a chunk at a time."""
    after = 0
    while True:
        rows = (
            await VoucherCode.filter(pool_id=pool.id, id__gt=after)
            .order_by("id")
            .limit(_CHUNK)
            .values("id", "code", "expires_at", "status", "redemption_id", "assigned_at")
        )
        if not rows:
            return
        after = rows[-1]["id"]
        yield rows


async def rearm_low_stock(pool: CodePool, now: datetime) -> None:
    """Codes came back (upload, return): announce the next dip below the threshold again."""
    if pool.low_stock_threshold is None:
        return
    if await free_at_least(pool.id, pool.low_stock_threshold, now):
        await CodePool.filter(id=pool.id).update(low_stock_sent_at=None)


async def free_at_least(
    pool_id: UUID, n: int, now: datetime, conn: BaseDBAsyncClient | None = None
) -> bool:
    """Whether the pool has `n` drawable codes; reads at most n rows, whatever the pool."""
    query = VoucherCode.filter(Q(pool_id=pool_id) & drawable(now)).order_by("id")
    if conn is not None:
        query = query.using_db(conn)
    return bool(await query.offset(n - 1).limit(1).values_list("id", flat=True))
