"""POST /api/v1/events: a batch of member events from the tenant's backend (API key).

Body: a JSON array of at most 1,000 events `{externalUserId, type, idempotencyKey,
occurredAt?, properties?}` (as `trackEvent` takes them). The events are tracked in order (a
return after its purchase sees what the purchase earned), in chunks
(models.programme.event_batches): one bad event is answered in its result and does not
stop the others. 200 with
`{"accepted", "replayed", "rejected", "points", "results": [{"index", "status", ...}]}`;
a body that is not such an array is a 400 with a code, more than 1,000 events a 413.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.after_commit import unit_of_work
from core.errors import AuthError, DomainError, ErrorCode, InvalidInput
from core.queue import JobQueue
from core.settings import Settings
from engine.request_body import BodyCode
from engine.rest import api_key_principal, error_response, json_body
from models.programme.codes import ProgrammeCode
from models.programme.event_batches import track_events
from models.programme.events import EventInput, Tracked

MAX_EVENTS = 1000


def _event(item: Any) -> EventInput:
    if not isinstance(item, dict):
        raise InvalidInput("An event is a JSON object")
    for name in ("externalUserId", "type", "idempotencyKey"):
        if not isinstance(item.get(name), str):
            raise InvalidInput(f"{name} is a string", field=name, code=ErrorCode.REQUIRED)
    occurred_at = None
    if item.get("occurredAt") is not None:
        try:
            occurred_at = datetime.fromisoformat(str(item["occurredAt"]).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("Use an ISO 8601 time", field="occurredAt") from None
        if occurred_at.tzinfo is None:
            raise InvalidInput("Give the time zone (e.g. Z)", field="occurredAt")
    properties = item.get("properties")
    return EventInput(
        external_user_id=item["externalUserId"],
        type=item["type"],
        idempotency_key=item["idempotencyKey"],
        properties=properties if properties is not None else {},
        occurred_at=occurred_at,
    )


def _result(index: int, tracked: Tracked) -> dict[str, Any]:
    return {
        "index": index,
        "status": "replayed" if tracked.replayed else "accepted",
        "eventId": str(tracked.event.id),
        "points": tracked.points,
        "awards": [
            {"ruleId": str(a.rule_id), "points": int(a.points), "note": a.note}
            for a in tracked.awards
        ],
    }


def events_endpoint(settings: Settings, queue: JobQueue, broker: Any) -> Any:
    async def events(request: Request) -> JSONResponse:
        try:
            principal = await api_key_principal(request, settings)
            body = await json_body(request)
            if not isinstance(body, list):
                raise InvalidInput("Send a JSON array of events", code=BodyCode.INVALID_JSON)
            if not body:
                raise InvalidInput("Send at least one event", code=ProgrammeCode.EMPTY_BATCH)
        except (DomainError, AuthError) as exc:
            return error_response(exc)
        if len(body) > MAX_EVENTS:
            error = {
                "code": ProgrammeCode.TOO_MANY_EVENTS.value,
                "message": f"At most {MAX_EVENTS} events a request ({len(body)} sent)",
                "field": None,
            }
            return JSONResponse({"error": error}, 413)
        outcomes: list[Tracked | DomainError | None] = [None] * len(body)
        inputs: list[tuple[int, EventInput]] = []
        for index, item in enumerate(body):
            try:
                inputs.append((index, _event(item)))
            except DomainError as exc:
                outcomes[index] = exc
        async with unit_of_work(queue, broker):
            tracked = await track_events(
                principal.tenant_id, [inp for _, inp in inputs], principal.actor
            )
        for (index, _), done in zip(inputs, tracked, strict=True):
            outcomes[index] = done
        results: list[dict[str, Any]] = []
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Tracked):
                results.append(_result(index, outcome))
            else:
                assert outcome is not None
                error = {"code": outcome.code, "message": outcome.message, "field": outcome.field}
                results.append({"index": index, "status": "rejected", "error": error})
        counts = {
            s: sum(r["status"] == s for r in results) for s in ("accepted", "replayed", "rejected")
        }
        points = sum(r.get("points", 0) for r in results if r["status"] == "accepted")
        return JSONResponse({**counts, "points": points, "results": results})

    return events


def event_routes(settings: Settings, queue: JobQueue, broker: Any) -> list[Route]:
    return [Route("/api/v1/events", events_endpoint(settings, queue, broker), methods=["POST"])]
