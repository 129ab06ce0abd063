"""REST for point masters, compatible with the Voyado Engage point-account API.

POST /api/v2/point-accounts/balances       JSON array of {contactId, amount, definitionId, timeStamp}
POST /api/v2/point-accounts/transactions   JSON array (at most 1,000) of transaction items
GET  /api/v2/point-accounts/balances/status/{id}      (also .../transactions/status/{id})

An upload is stored, then applied by a worker: the POST answers 202 at once with the
batch's status body `{messages, id, status, timeStamp}`.
Bodies are strict JSON (engine.request_body.parse_json: 400 with a code and the item's
path, e.g. `[3].contactId`) of at most GAMIFY_MAX_UPLOAD_BYTES (413 beyond).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.after_commit import unit_of_work
from core.errors import AuthError, DomainError
from core.queue import JobQueue
from core.settings import Settings
from engine.rest import api_key_principal, error_response, json_body
from models.pointmaster.tables import SyncKind
from models.pointmaster.uploads import accept_batch, get_batch, status_json


def _upload(kind: SyncKind, settings: Settings, queue: JobQueue) -> Any:
    async def upload(request: Request) -> JSONResponse:
        try:
            principal = await api_key_principal(request, settings)
            async with unit_of_work(queue, None):
                batch = await accept_batch(principal.tenant_id, kind, await json_body(request))
        except (DomainError, AuthError) as exc:
            return error_response(exc)
        return JSONResponse(status_json(batch), status_code=202)

    return upload


def _status(settings: Settings) -> Any:
    async def status(request: Request) -> JSONResponse:
        try:
            principal = await api_key_principal(request, settings)
            batch = await get_batch(principal.tenant_id, request.path_params["batch_id"])
        except (DomainError, AuthError) as exc:
            return error_response(exc)
        return JSONResponse(status_json(batch))

    return status


def pointmaster_routes(settings: Settings, queue: JobQueue) -> list[Route]:
    base = "/api/v2/point-accounts"
    return [
        Route(f"{base}/balances", _upload(SyncKind.BALANCES, settings, queue), methods=["POST"]),
        Route(
            f"{base}/transactions",
            _upload(SyncKind.TRANSACTIONS, settings, queue),
            methods=["POST"],
        ),
        Route(f"{base}/balances/status/{{batch_id}}", _status(settings), methods=["GET"]),
        Route(f"{base}/transactions/status/{{batch_id}}", _status(settings), methods=["GET"]),
    ]
