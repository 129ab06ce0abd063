"""REST adapters for tenant backends: the fulfilment callback.

Errors answer `{"error": {"code", "message", "field"}}` with 400/401/403/404/409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse

from core.after_commit import unit_of_work
from core.errors import AuthError, Conflict, DomainError, Forbidden, InvalidInput, NotFound
from core.queue import JobQueue
from core.settings import Settings
from engine.request_body import BadBody, BodyCode, parse_json
from models.redemptions.lifecycle import Via, transition
from models.redemptions.tables import Redemption, RedemptionStatus
from resolvers.auth import Principal, authenticate

CALLBACK_STATUSES = {
    "fulfilled": RedemptionStatus.FULFILLED,
    "failed": RedemptionStatus.FAILED,
    "postponed": RedemptionStatus.POSTPONED,
    "recoverable_failure": RedemptionStatus.RECOVERABLE_FAILURE,
}


def error_response(exc: DomainError | AuthError) -> JSONResponse:
    if isinstance(exc, AuthError):
        status = 403 if isinstance(exc, Forbidden) else 401
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status)
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
    body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    return JSONResponse(body, status)


async def api_key_principal(request: Request, settings: Settings) -> Principal:
    """The API key of `Authorization: Bearer gk_...`, or of `apikey: gk_...` as Voyado's
    clients send it."""
    authorization = request.headers.get("authorization")
    if authorization is None and "apikey" in request.headers:
        authorization = f"Bearer {request.headers['apikey']}"
    principal = await authenticate(authorization, settings)
    if principal is None:
        raise AuthError("Send 'Authorization: Bearer gk_...' (or 'apikey: gk_...')")
    if principal.kind != "api_key":
        raise Forbidden("This endpoint takes an API key")
    return principal


async def json_body(request: Request) -> Any:
    """The body as strict JSON (engine.request_body.parse_json); its problems as InvalidInput."""
    try:
        return parse_json(await request.body())
    except BadBody as exc:
        raise InvalidInput(exc.message, code=exc.code, field=exc.field) from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object", code=BodyCode.INVALID_JSON)
    return body


def _optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string or null", field=name)
    return value


def redemption_json(redemption: Redemption) -> dict[str, Any]:
    return {
        "id": str(redemption.id),
        "status": RedemptionStatus(redemption.status).value.lower(),
        "quantity": redemption.quantity,
        "points_spent": redemption.points_spent,
        "data": redemption.fulfillment_data,
        "reason": redemption.reason,
        "updated_at": redemption.updated_at.isoformat(),
    }


def callback_endpoint(settings: Settings, queue: JobQueue, broker: Any) -> Any:
    async def callback(request: Request) -> JSONResponse:
        """POST /api/v1/redemptions/{id}/callback: the fulfilment backend's outcome."""
        async with unit_of_work(queue, broker):
            return await _callback(request)

    async def _callback(request: Request) -> JSONResponse:
        try:
            principal = await api_key_principal(request, settings)
            try:
                redemption_id = UUID(request.path_params["redemption_id"])
            except ValueError:
                raise NotFound("Redemption not found", field="id") from None
            body = await json_object(request)
            status = CALLBACK_STATUSES.get((_optional_string(body, "status") or "").lower())
            if status is None:
                allowed = "|".join(CALLBACK_STATUSES)
                raise InvalidInput(f"status must be {allowed}", field="status")
            data = body.get("data")
            if data is not None and not isinstance(data, dict):
                raise InvalidInput("data must be a JSON object", field="data")
            occurred_at = None
            fulfilled_at = _optional_string(body, "fulfilled_at")
            if fulfilled_at is not None:
                try:
                    occurred_at = datetime.fromisoformat(fulfilled_at.replace("Z", "+00:00"))
                except ValueError:
                    raise InvalidInput("Use an ISO 8601 time", field="fulfilled_at") from None
            reason = _optional_string(body, "reason")
            moved = await transition(
                principal.tenant_id,
                redemption_id,
                status,
                Via.CALLBACK,
                actor=principal.actor,
                data=data,
                reason=reason,
                occurred_at=occurred_at,
            )
        except (DomainError, AuthError) as exc:
            return error_response(exc)
        return JSONResponse(
            {"redemption": redemption_json(moved.redemption), "changed": moved.changed}
        )

    return callback
