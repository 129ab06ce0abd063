"""`GET /api/v1/reports/{name}.csv?since=&until=`: a report as CSV, streamed (admin JWT).

`liability` is as of `until` (default now); the others cover [since, until) (default: the
last 30 days). Names: see models.reports.exports.REPORTS.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core.errors import AuthError, DomainError, Forbidden, InvalidInput
from core.settings import Settings
from engine.rest import error_response
from models.reports.exports import csv_report
from resolvers.auth import authenticate
from resolvers.reports import report_range


def _time(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"`{name}` is not an ISO date or time", field=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def report_routes(settings: Settings) -> list[Route]:
    async def report(request: Request) -> Response:
        try:
            principal = await authenticate(request.headers.get("authorization"), settings)
            if principal is None:
                raise AuthError("Send 'Authorization: Bearer <admin token>'")
            if principal.kind != "admin":
                raise Forbidden("Reports are for the tenant's admins")
            name = request.path_params["name"]
            start, end = report_range(_time(request, "since"), _time(request, "until"))
            lines = csv_report(name, principal.tenant_id, start, end)
        except (DomainError, AuthError) as exc:
            return error_response(exc)
        filename = f"{name}-{end.strftime('%Y%m%d')}.csv"
        return StreamingResponse(
            lines,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return [Route("/api/v1/reports/{name}.csv", report, methods=["GET"])]
