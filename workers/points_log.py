"""The points-log fetch: one GET to the point master, retried, its outcome cached.

The GET goes to the address that passed the SSRF check (as webhooks do), follows no
redirect, reads at most MAX_BODY bytes and is bounded as a whole by the tenant's timeout.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import httpx
from arq.worker import func

from core.errors import DomainError, InvalidInput
from core.jobs import FETCH_POINTS_LOG
from core.ssrf import checked_addresses, parse_target
from models.members.tables import Member
from models.pointmaster.points_log import (
    ATTEMPTS,
    BACKOFF,
    FetchResult,
    InvalidLog,
    LogTarget,
    PointsLogErrorCode,
    log_target,
    parse_log,
    record_fetch,
)

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
USER_AGENT = "GamifyEngine-PointsLog/1"
RETRIED = frozenset(
    {
        PointsLogErrorCode.MASTER_UNAVAILABLE,
        PointsLogErrorCode.MASTER_TIMEOUT,
        PointsLogErrorCode.MASTER_ERROR,
    }
)


async def _get(client: httpx.AsyncClient, target: LogTarget, allow_private: bool) -> FetchResult:
    try:
        scheme, host, port = parse_target(target.url)
        address = (await checked_addresses(target.url, allow_private))[0]
    except InvalidInput as exc:
        return FetchResult(None, PointsLogErrorCode.BLOCKED_ADDRESS, exc.message)
    # Connect to the checked address itself; Host and TLS still name the original host.
    url = httpx.URL(target.url).copy_with(host=str(address), port=port)
    default_port = 443 if scheme == "https" else 80
    headers = {**target.headers, "Host": host if port == default_port else f"{host}:{port}"}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    try:
        async with asyncio.timeout(target.timeout):
            async with client.stream("GET", url, headers=headers, extensions=extensions) as answer:
                if not 200 <= answer.status_code < 300:
                    return FetchResult(
                        None,
                        PointsLogErrorCode.MASTER_ERROR,
                        f"The point master answered HTTP {answer.status_code}",
                    )
                body = b""
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return FetchResult(
                            None, PointsLogErrorCode.INVALID_RESPONSE, "The answer is too large"
                        )
    except (httpx.TimeoutException, TimeoutError):
        return FetchResult(
            None,
            PointsLogErrorCode.MASTER_TIMEOUT,
            f"The point master did not answer within {target.timeout:g} s",
        )
    except httpx.HTTPError as exc:
        return FetchResult(
            None,
            PointsLogErrorCode.MASTER_UNAVAILABLE,
            f"The point master cannot be reached ({type(exc).__name__})",
        )
    try:
        return FetchResult(parse_log(body))
    except InvalidLog as exc:
        return FetchResult(None, PointsLogErrorCode.INVALID_RESPONSE, str(exc))


async def fetch(target: LogTarget, allow_private: bool) -> FetchResult:
    """Up to ATTEMPTS tries while the master is down, slow or failing; garbage is final."""
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(target.timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        result = FetchResult(None)
        for attempt in range(ATTEMPTS):
            result = await _get(client, target, allow_private)
            if result.error_code not in RETRIED:
                return result
            if attempt < len(BACKOFF):
                await asyncio.sleep(BACKOFF[attempt])
        return result


async def _fetch_points_log(ctx: dict[str, Any], tenant_id: str, member_id: str) -> str:
    """arq job: fetch one member's points log and store the outcome for every reader."""
    tenant, member = UUID(tenant_id), UUID(member_id)
    if not await Member.exists(id=member, tenant_id=tenant):
        return "gone"  # deleted since the read asked
    try:
        target = await log_target(tenant, member)
    except DomainError as exc:  # the URL was cleared since the read asked
        result = FetchResult(None, PointsLogErrorCode.NOT_CONFIGURED, exc.message)
    else:
        try:
            result = await fetch(target, ctx["settings"].webhook_allow_private)
        except Exception as exc:
            # Readers wait for this fetch's outcome: whatever goes wrong must be one.
            log.warning("points-log fetch for member %s failed", member, exc_info=True)
            message = f"The points log could not be fetched ({type(exc).__name__})"
            result = FetchResult(None, PointsLogErrorCode.MASTER_ERROR, message)
    await record_fetch(tenant, member, result)
    return result.error_code.value if result.error_code else "ok"


# No result kept: the job id names "a fetch for this member", and a kept result would
# refuse the next fetch for an hour.
fetch_points_log = func(_fetch_points_log, name=FETCH_POINTS_LOG, keep_result=0, max_tries=1)
