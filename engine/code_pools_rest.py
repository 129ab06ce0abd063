"""REST for a reward's voucher codes, for the tenant's admins (admin token from `login`).

POST /api/v1/rewards/{id}/codes   text/csv, columns `code[,expires_at]` (a header row
                                  naming them is optional), at most 100,000 rows and
                                  GAMIFY_MAX_UPLOAD_BYTES: {added, duplicates, invalid, pool}
GET  /api/v1/rewards/{id}/codes   the pool as CSV: code,expires_at,status,redemption_id,assigned_at

The body is parsed as it is read, a line at a time. Errors answer as the other REST
endpoints do: `{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.after_commit import unit_of_work
from core.errors import AuthError, DomainError, Forbidden, InvalidInput, NotFound
from core.queue import JobQueue
from core.settings import Settings
from engine.request_body import BodyCode
from engine.rest import error_response
from models.catalog.code_pools import (
    MAX_CODES_PER_REQUEST,
    CodeEntry,
    add_codes,
    export_rows,
    pool_of,
    pool_stats,
)
from resolvers.auth import Principal, authenticate

CSV_TYPES = ("text/csv", "text/plain", "application/csv")
EXPORT_COLUMNS = ("code", "expires_at", "status", "redemption_id", "assigned_at")
_INVALID_EXPIRY = object()


async def _admin(request: Request, settings: Settings) -> Principal:
    principal = await authenticate(request.headers.get("authorization"), settings)
    if principal is None:
        raise AuthError("Send 'Authorization: Bearer <admin token>'")
    if principal.kind != "admin":
        raise Forbidden("This endpoint takes an admin token")
    return principal


def _reward_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["reward_id"])
    except ValueError:
        raise NotFound("Reward not found", field="id") from None


def _expiry(text: str) -> datetime | object | None:
    """A cell's expiry: None when empty, _INVALID_EXPIRY when unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _INVALID_EXPIRY
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _lines(request: Request) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    try:
        async for chunk in request.stream():
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidInput("The body is not UTF-8", code=BodyCode.INVALID_UTF8) from None
    if pending:
        yield pending


async def read_codes(request: Request) -> tuple[list[CodeEntry], int]:
    """The rows as code entries, and how many rows could not be read at all."""
    entries: list[CodeEntry] = []
    unreadable = 0
    first = True
    async for line in _lines(request):
        if not line.strip():
            continue
        row = next(csv.reader([line]), [])
        if first and row and row[0].strip().lower() == "code":
            first = False
            continue  # the header row
        first = False
        if len(entries) + unreadable >= MAX_CODES_PER_REQUEST:
            raise InvalidInput(
                f"Send at most {MAX_CODES_PER_REQUEST} codes a request", field="codes"
            )
        expiry = _expiry(row[1]) if len(row) > 1 else None
        if len(row) > 2 or expiry is _INVALID_EXPIRY or not row:
            unreadable += 1
            continue
        entries.append(CodeEntry(row[0], expiry))  # type: ignore[arg-type]
    return entries, unreadable


def _pool_json(stats: Any) -> dict[str, int]:
    return {
        "size": stats.size,
        "free": stats.free,
        "used": stats.used,
        "burnt": stats.burnt,
        "expired": stats.expired,
    }


def _export_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def code_routes(settings: Settings, queue: JobQueue) -> list[Route]:
    async def upload(request: Request) -> JSONResponse:
        try:
            principal = await _admin(request, settings)
            reward_id = _reward_id(request)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in CSV_TYPES:
                raise InvalidInput("Send text/csv", code=BodyCode.UNSUPPORTED_MEDIA_TYPE)
            async with unit_of_work(queue, None):
                await pool_of(principal.tenant_id, reward_id)  # a foreign reward: 404 first
                entries, unreadable = await read_codes(request)
                upload = await add_codes(principal.tenant_id, reward_id, entries)
                pool = await pool_of(principal.tenant_id, reward_id)
                assert pool is not None
                stats = await pool_stats(pool)
        except (DomainError, AuthError) as exc:
            return error_response(exc)
        return JSONResponse(
            {
                "added": upload.added,
                "duplicates": upload.duplicates,
                "invalid": upload.invalid + unreadable,
                "pool": _pool_json(stats),
            }
        )

    async def export(request: Request) -> Response:
        try:
            principal = await _admin(request, settings)
            pool = await pool_of(principal.tenant_id, _reward_id(request))
        except (DomainError, AuthError) as exc:
            return error_response(exc)

        async def body() -> AsyncIterator[str]:
            yield ",".join(EXPORT_COLUMNS) + "\r\n"
            if pool is None:
                return
            async for rows in export_rows(pool):
                out = io.StringIO()
                writer = csv.writer(out)
                for row in rows:
                    writer.writerow([_export_cell(row[c]) for c in EXPORT_COLUMNS])
                yield out.getvalue()

        name = f"codes-{request.path_params['reward_id']}.csv"
        return StreamingResponse(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    return [
        Route("/api/v1/rewards/{reward_id}/codes", upload, methods=["POST"]),
        Route("/api/v1/rewards/{reward_id}/codes", export, methods=["GET"]),
    ]
