"""`pointsLog`: a member's history as the point master keeps it."""

from __future__ import annotations

import strawberry

from core.errors import Refused
from core.jobs import FETCH_POINTS_LOG, points_log_job_id
from models.pointmaster.points_log import PointsLogErrorCode, PointsLogView, read_points_log
from resolvers.auth import ANYONE, require, target_member
from resolvers.errors import query_error
from schema.points_log import PointsLog


async def points_log(
    info: strawberry.Info,
    member_id: strawberry.ID | None = None,
    external_user_id: str | None = None,
) -> PointsLog:
    """Admins and API keys for any member of the tenant; a member token for itself. The
    master is asked by a worker; a copy younger than the tenant's TTL is served as is."""
    principal = require(info, ANYONE)
    with query_error():
        member = await target_member(principal, member_id, external_user_id)

    async def request_fetch() -> None:
        await info.context.queue.enqueue(
            FETCH_POINTS_LOG,
            str(principal.tenant_id),
            str(member.id),
            job_id=points_log_job_id(member.id),
        )

    try:
        view = await read_points_log(principal.tenant_id, member, request_fetch)
    except Refused as exc:  # not configured
        view = PointsLogView(
            contact_id=member.external_user_id,
            entries=None,
            fetched_at=None,
            from_cache=False,
            stale=False,
            error_code=PointsLogErrorCode(exc.code),
            error_message=exc.message,
        )
    return PointsLog.from_view(view)
