"""A member's points log as the point master keeps it, fetched by a worker and cached.

The master owns the history in follower mode. A read serves the cached copy while it is
younger than the tenant's TTL; otherwise it asks a worker for a fetch (through the job
queue) and waits for it, boundedly, on the cache row, which every API process shares.
When the fetch fails, the answer carries an error code and the last good copy, if any,
marked stale with the time it was fetched.

The contact id sent to the master is the member's `externalUserId`: the same id the
master's uploads name the member by (`contactId`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.expressions import F

from core import clock
from core.errors import Code, Refused
from models.members.tables import Member
from models.pointmaster.items import ItemError, parse_time
from models.pointmaster.settings import log_url_for
from models.pointmaster.tables import PointMasterSettings, PointsLogCache

ATTEMPTS = 3  # one fetch job tries this often when the master is down, slow or failing
BACKOFF = (0.2, 0.5)  # seconds between those attempts
MAX_WAIT = 30.0
POLL = 0.05
MAX_ENTRIES = 10_000


class PointsLogErrorCode(Code):
    NOT_CONFIGURED = "NOT_CONFIGURED"  # no points-log URL set
    MASTER_UNAVAILABLE = "MASTER_UNAVAILABLE"  # connection refused, DNS, reset
    MASTER_TIMEOUT = "MASTER_TIMEOUT"
    MASTER_ERROR = "MASTER_ERROR"  # a non-2xx answer (500, 404, a redirect...)
    INVALID_RESPONSE = "INVALID_RESPONSE"  # not JSON, or not a list of entries
    BLOCKED_ADDRESS = "BLOCKED_ADDRESS"  # the URL resolves to a non-public address
    FETCH_PENDING = "FETCH_PENDING"  # no worker finished the fetch in time


class InvalidLog(ValueError):
    pass


@dataclass(frozen=True)
class LogTarget:
    url: str
    headers: dict[str, str]
    timeout: float  # seconds, per attempt


@dataclass(frozen=True)
class FetchResult:
    entries: list[dict[str, Any]] | None
    error_code: PointsLogErrorCode | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class PointsLogView:
    contact_id: str
    entries: list[dict[str, Any]] | None  # None: no good copy at all
    fetched_at: datetime | None
    from_cache: bool  # served from the cache without asking the master
    stale: bool  # the entries are an older copy: the fresh fetch failed
    error_code: PointsLogErrorCode | None = None
    error_message: str | None = None


def parse_log(body: bytes) -> list[dict[str, Any]]:
    """The master's answer: `[{transactionDate, amount, description}]` (an empty list = none)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidLog("The point master's answer is not JSON") from None
    if not isinstance(data, list):
        raise InvalidLog("The point master's answer is not a JSON array")
    if len(data) > MAX_ENTRIES:
        raise InvalidLog(f"The point master's answer has more than {MAX_ENTRIES} entries")
    entries = []
    for index, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise InvalidLog(f"Entry {index} is not an object")
        amount = raw.get("amount")
        if isinstance(amount, float) and amount.is_integer():
            amount = int(amount)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidLog(f"Entry {index}: amount is not an integer")
        description = raw.get("description") or ""
        if not isinstance(description, str):
            raise InvalidLog(f"Entry {index}: description is not a string")
        try:
            when = parse_time(raw.get("transactionDate"), "transactionDate")
        except ItemError as exc:
            raise InvalidLog(f"Entry {index}: {exc}") from None
        entries.append(
            {"transactionDate": when.isoformat(), "amount": amount, "description": description}
        )
    return entries


def wait_bound(settings: PointMasterSettings) -> float:
    """How long a read waits for its fetch: every attempt timing out, plus the backoffs."""
    per_attempt = settings.points_log_timeout_ms / 1000
    return min(MAX_WAIT, per_attempt * ATTEMPTS + sum(BACKOFF) + 1.0)


async def _configured(tenant_id: UUID) -> PointMasterSettings:
    settings = await PointMasterSettings.get_or_none(tenant_id=tenant_id)
    if settings is None or not settings.points_log_url:
        raise Refused(
            "No points-log URL is set: setPointMasterSettings(pointsLogUrl) first",
            code=PointsLogErrorCode.NOT_CONFIGURED,
        )
    return settings


async def log_target(tenant_id: UUID, member_id: UUID) -> LogTarget:
    settings = await _configured(tenant_id)
    member = await Member.get(id=member_id, tenant_id=tenant_id)
    assert settings.points_log_url is not None
    headers = {"Accept": "application/json"}
    if settings.points_log_auth_value:
        headers[settings.points_log_auth_header] = settings.points_log_auth_value
    return LogTarget(
        url=log_url_for(settings.points_log_url, member.external_user_id),
        headers=headers,
        timeout=settings.points_log_timeout_ms / 1000,
    )


async def _cache_row(tenant_id: UUID, member_id: UUID) -> PointsLogCache:
    row = await PointsLogCache.get_or_none(member_id=member_id, tenant_id=tenant_id)
    if row is not None:
        return row
    await PointsLogCache.bulk_create(
        [PointsLogCache(id=uuid4(), tenant_id=tenant_id, member_id=member_id)],
        ignore_conflicts=True,
    )
    return await PointsLogCache.get(member_id=member_id, tenant_id=tenant_id)


async def record_fetch(tenant_id: UUID, member_id: UUID, result: FetchResult) -> None:
    """The worker's outcome into the shared cache; a failure keeps the last good copy."""
    row = await _cache_row(tenant_id, member_id)
    now = clock.now()
    changes: dict[str, Any] = {"attempted_at": now, "fetch_seq": F("fetch_seq") + 1}
    if result.error_code is None:
        changes.update(entries=result.entries, fetched_at=now, error_code=None, error_message=None)
    else:
        changes.update(error_code=result.error_code.value, error_message=result.error_message)
    await PointsLogCache.filter(id=row.id).update(**changes)


def _view(
    row: PointsLogCache, contact_id: str, *, from_cache: bool, pending: bool = False
) -> PointsLogView:
    if pending:
        code: PointsLogErrorCode | None = PointsLogErrorCode.FETCH_PENDING
        message: str | None = "The point master did not answer in time; ask again shortly"
    elif row.error_code is not None:
        code, message = PointsLogErrorCode(row.error_code), row.error_message
    else:
        code, message = None, None
    return PointsLogView(
        contact_id=contact_id,
        entries=row.entries,
        fetched_at=row.fetched_at,
        from_cache=from_cache,
        stale=code is not None and row.entries is not None,
        error_code=code,
        error_message=message,
    )


async def read_points_log(
    tenant_id: UUID, member: Member, request_fetch: Callable[[], Awaitable[None]]
) -> PointsLogView:
    """The cached copy while fresh; else a fetch by a worker, waited for boundedly."""
    settings = await _configured(tenant_id)
    row = await _cache_row(tenant_id, member.id)
    ttl = timedelta(seconds=settings.points_log_cache_seconds)
    if row.fetched_at is not None and clock.now() - row.fetched_at < ttl:
        return _view(row, member.external_user_id, from_cache=True)
    seen = row.fetch_seq
    await request_fetch()
    try:
        async with asyncio.timeout(wait_bound(settings)):
            while row.fetch_seq == seen:  # the database has no event to wait on
                await asyncio.sleep(POLL)
                await row.refresh_from_db()
    except TimeoutError:
        return _view(row, member.external_user_id, from_cache=False, pending=True)
    return _view(row, member.external_user_id, from_cache=False)
