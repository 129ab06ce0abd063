"""The engine's REST endpoints as an OpenAPI 3.1 document, served at GET /api/openapi.json.

This module is the one description: CI runs schemathesis against a real `gamify serve`
with it (tests/fuzz/rest.py), and fails on a 5xx, an answer that does not match the schema
described here, or a status code not listed for its operation. GraphQL (/graphql) is
described by its own schema (schema.graphql), not here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.events_rest import MAX_EVENTS
from engine.rest import CALLBACK_STATUSES
from models.catalog.code_pools import MAX_CODES_PER_REQUEST
from models.pointmaster.items import INT32, MAX_CONTACT_ID, MAX_TRANSACTION_ID, SOURCES
from models.pointmaster.tables import SyncStatus
from models.pointmaster.uploads import MAX_ITEMS
from models.points.awards import MAX_AMOUNT, MAX_BALANCE
from models.redemptions.tables import RedemptionStatus

PATH = "/api/openapi.json"
JSON = "application/json"
UPLOADS = "/api/v2/point-accounts"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


# Answers every REST operation may give besides its own (from the middleware in front).
_COMMON = {
    "413": _error("BODY_TOO_LARGE: the body is larger than the engine takes"),
    "429": {
        **_error("RATE_LIMITED: too many requests; retry after Retry-After seconds"),
        "headers": {"Retry-After": {"schema": {"type": "string"}}},
    },
}
_AUTH = {
    "401": _error("UNAUTHENTICATED (no or an unknown credential) or TOKEN_EXPIRED"),
    "403": _error("FORBIDDEN: the credential is not an API key, or may not do this"),
}

_TIME = {"type": "string", "format": "date-time"}
_BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "description": "The id the upload answered with",
    "schema": {"type": "string", "format": "uuid"},
}


def _item_schema(*, transaction: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "contactId": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CONTACT_ID,
            "description": "The member's externalUserId; an unknown contact becomes a member "
            "when one of its items is applied (never when all of them are refused)",
        },
        "amount": {
            "type": "integer",
            **(
                {"minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT}
                if transaction
                else {"minimum": 0, "maximum": MAX_BALANCE}
            ),
        },
        "definitionId": {
            "type": "integer",
            "minimum": INT32[0],
            "maximum": INT32[1],
            "description": "The point definition's externalId",
        },
        "timeStamp": _TIME,
    }
    if transaction:
        known = ", ".join(name.capitalize() for name in SOURCES)
        properties.update(
            source={
                "type": "string",
                "default": "Other",
                "description": f"{known}; any other name is stored as OTHER and kept as "
                "the ledger entry's sourceName",
            },
            description={"type": "string", "default": ""},
            validFrom={**_TIME, "type": ["string", "null"]},
            validTo={
                **_TIME,
                "type": ["string", "null"],
                "description": "A time already past is recorded: earned and expired at once",
            },
            transactionId={
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TRANSACTION_ID,
                "description": "Makes the item idempotent: sent again, it is not applied again",
            },
        )
    return {
        "type": "object",
        "required": ["contactId", "amount", "definitionId", "timeStamp"],
        "properties": properties,
    }


def _upload(kind: str, item: str, mode: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"upload{kind.capitalize()}",
            "tags": ["point master"],
            "summary": f"Upload {kind} from the point master (Voyado Engage point accounts)",
            "description": (
                f"Stores the upload and answers 202 at once; a worker applies it. At most "
                f"{MAX_ITEMS} items. An item that is malformed or refused does not fail the "
                "upload: the batch status lists it (CompletedWithErrors). Needs the tenant, or "
                f"one of its point definitions, in point mode {mode}; otherwise 400 "
                "WRONG_POINT_MODE (Voyado's 'New point system not active')."
            ),
            "security": [{"bearer": []}, {"apikey": []}],
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_ITEMS,
                            "items": _ref(item),
                        }
                    }
                },
            },
            "responses": {
                "202": _json(_ref("BatchStatus"), "Stored; applied by a worker"),
                "400": _error(
                    "INVALID_JSON (not a JSON array, or not JSON), INVALID_UTF8, "
                    "INVALID_NUMBER, TOO_DEEP, INVALID_TEXT, EMPTY_BATCH, TOO_MANY_ITEMS, "
                    "WRONG_POINT_MODE"
                ),
                **_AUTH,
                **_COMMON,
            },
        }
    }


_EVENTS = {
    "post": {
        "operationId": "trackEvents",
        "tags": ["programme"],
        "summary": "Member events from the tenant's backend (earning rules award points)",
        "description": (
            f"At most {MAX_EVENTS} events, tracked in order with the rules of `trackEvent` "
            "(applied in chunks, with the outcome of tracking them one by one): a "
            "bad event is rejected in its result and does not stop the others. An event "
            "sent again with the same idempotencyKey is `replayed` with what it awarded."
        ),
        "security": [{"bearer": []}, {"apikey": []}],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_EVENTS,
                        "items": _ref("Event"),
                    }
                }
            },
        },
        "responses": {
            "200": _json(_ref("EventResults"), "Each event's result, in order"),
            "400": _error("INVALID_JSON (not a JSON array, or not JSON), EMPTY_BATCH, ..."),
            **_AUTH,
            **_COMMON,
            "413": _error(
                "TOO_MANY_EVENTS (more than the limit), or BODY_TOO_LARGE (a body larger "
                "than the engine takes)"
            ),
        },
    }
}


_REWARD_ID = {
    "name": "reward_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_ADMIN_ONLY = {
    "401": _error("UNAUTHENTICATED (no or an unknown credential) or TOKEN_EXPIRED"),
    "403": _error("FORBIDDEN: an admin token (from `login`) is needed, not an API key"),
    "404": _error("NOT_FOUND: no such reward of this tenant"),
}
_CODES = {
    "post": {
        "operationId": "uploadVoucherCodes",
        "tags": ["catalog"],
        "summary": "Add voucher codes to a reward's pool (admins)",
        "description": (
            f"text/csv with columns `code[,expires_at]` (a header row is optional), at most "
            f"{MAX_CODES_PER_REQUEST} rows; codes already in the pool are counted as "
            "duplicates, unreadable ones as invalid."
        ),
        "security": [{"bearer": []}],
        "parameters": [_REWARD_ID],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "required": ["added", "duplicates", "invalid", "pool"],
                    "properties": {
                        "added": {"type": "integer"},
                        "duplicates": {"type": "integer"},
                        "invalid": {"type": "integer"},
                        "pool": {"type": "object"},
                    },
                },
                "What was added, and the pool's counts",
            ),
            "400": _error("UNSUPPORTED_MEDIA_TYPE (not text/csv), TOO_MANY, INVALID, ..."),
            **_ADMIN_ONLY,
            **_COMMON,
        },
    },
    "get": {
        "operationId": "exportVoucherCodes",
        "tags": ["catalog"],
        "summary": "A reward's pool as CSV (admins)",
        "security": [{"bearer": []}],
        "parameters": [_REWARD_ID],
        "responses": {
            "200": {
                "description": "code,expires_at,status,redemption_id,assigned_at",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            **_ADMIN_ONLY,
            **_COMMON,
        },
    },
}

_TIME = {"type": "string", "format": "date-time"}
_REPORT = {
    "get": {
        "operationId": "exportReport",
        "tags": ["reports"],
        "summary": "A report as CSV, streamed (admins)",
        "description": "Names: liability (as of `until`), points-by-day, redemptions-by-reward, "
        "earning-sources, top-rules, ledger (every posting). Range [since, until), default "
        "the last 30 days, at most two years; times without a zone are UTC.",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "since", "in": "query", "required": False, "schema": _TIME},
            {"name": "until", "in": "query", "required": False, "schema": _TIME},
        ],
        "responses": {
            "200": {
                "description": "CSV with a header row (an attachment)",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "400": _error(
                "INVALID: a time that is not ISO 8601, since not before until, a range over two years"
            ),
            "401": _error("UNAUTHENTICATED (no or an unknown credential) or TOKEN_EXPIRED"),
            "403": _error("FORBIDDEN: an admin token (from `login`) is needed, not an API key"),
            "404": _error("NOT_FOUND: no report of this name"),
            **_COMMON,
        },
    },
}


def _status(kind: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": f"{kind}Status",
            "tags": ["point master"],
            "summary": f"The status of a {kind} upload (either path answers for any upload)",
            "security": [{"bearer": []}, {"apikey": []}],
            "parameters": [_BATCH_ID],
            "responses": {
                "200": _json(_ref("BatchStatus"), "The batch's status and messages"),
                "404": _error("NOT_FOUND: no such upload of this tenant"),
                **_AUTH,
                **_COMMON,
            },
        }
    }


_CALLBACK = {
    "post": {
        "operationId": "redemptionCallback",
        "tags": ["fulfilment"],
        "summary": "The fulfilment backend's outcome for a redemption",
        "description": (
            "Moves the redemption to the status sent. Repeating the current status answers "
            "200 with changed=false; a transition the lifecycle does not allow is 409."
        ),
        "security": [{"bearer": []}, {"apikey": []}],
        "parameters": [
            {
                "name": "redemption_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": _ref("Callback")}},
        },
        "responses": {
            "200": _json(_ref("CallbackResult"), "The redemption after the callback"),
            "400": _error(
                "INVALID (a field: status, data, reason, fulfilled_at), INVALID_JSON, "
                "INVALID_UTF8, INVALID_NUMBER, TOO_DEEP, INVALID_TEXT"
            ),
            "404": _error("NOT_FOUND: no such redemption of this tenant"),
            "409": _error("CONFLICT or a lifecycle code: the redemption cannot move there"),
            **_AUTH,
            **_COMMON,
        },
    }
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, for programs"},
                    "message": {"type": "string", "description": "For people"},
                    "field": {
                        "type": ["string", "null"],
                        "description": "The field or item path at fault, e.g. `[3].contactId`",
                    },
                },
            }
        },
    },
    "BalanceItem": _item_schema(transaction=False),
    "TransactionItem": _item_schema(transaction=True),
    "BatchStatus": {
        "type": "object",
        "required": ["messages", "id", "status", "timeStamp"],
        "additionalProperties": False,
        "properties": {
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["message", "timeStamp"],
                    "properties": {"message": {"type": "string"}, "timeStamp": _TIME},
                },
            },
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": [s.value for s in SyncStatus]},
            "timeStamp": {**_TIME, "description": "UTC with milliseconds, e.g. ...03.947Z"},
        },
    },
    "Callback": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {
                "type": "string",
                "enum": list(CALLBACK_STATUSES),
                "description": "Case-insensitive",
            },
            "data": {
                "type": ["object", "null"],
                "description": "Fulfilment data shown to the member, e.g. a voucher code",
            },
            "reason": {"type": ["string", "null"]},
            "fulfilled_at": {**_TIME, "type": ["string", "null"]},
        },
    },
    "CallbackResult": {
        "type": "object",
        "required": ["redemption", "changed"],
        "properties": {
            "redemption": {
                "type": "object",
                "required": [
                    "id",
                    "status",
                    "quantity",
                    "points_spent",
                    "data",
                    "reason",
                    "updated_at",
                ],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "status": {
                        "type": "string",
                        "enum": [s.value.lower() for s in RedemptionStatus],
                    },
                    "quantity": {"type": "integer", "minimum": 1},
                    "points_spent": {"type": "integer", "minimum": 0},
                    "data": {"type": ["object", "null"]},
                    "reason": {"type": ["string", "null"]},
                    "updated_at": _TIME,
                },
            },
            "changed": {"type": "boolean", "description": "false: it had that status already"},
        },
    },
    "Event": {
        "type": "object",
        "required": ["externalUserId", "type", "idempotencyKey"],
        "properties": {
            "externalUserId": {"type": "string"},
            "type": {
                "type": "string",
                "description": "purchase, signup, birthday, review, referral, return, or custom",
            },
            "idempotencyKey": {"type": "string"},
            "occurredAt": {**_TIME, "type": ["string", "null"]},
            "properties": {"type": ["object", "null"]},
        },
    },
    "EventResults": {
        "type": "object",
        "required": ["accepted", "replayed", "rejected", "points", "results"],
        "properties": {
            "accepted": {"type": "integer"},
            "replayed": {"type": "integer"},
            "rejected": {"type": "integer"},
            "points": {"type": "integer"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "status"],
                    "properties": {
                        "index": {"type": "integer"},
                        "status": {"type": "string", "enum": ["accepted", "replayed", "rejected"]},
                        "eventId": {"type": "string"},
                        "points": {"type": "integer"},
                        "awards": {"type": "array"},
                        "error": {"type": "object", "required": ["code", "message"]},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error"]},
            "database": {"type": "string"},
        },
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "unavailable"]},
            "checks": {
                "type": "object",
                "required": ["database", "redis", "worker"],
                "additionalProperties": {"type": "string"},
            },
            "caches": {
                "type": "string",
                "enum": ["following", "off"],
                "description": "off: this process does not follow the cache broadcast, and "
                "reads go to the database (not a check)",
            },
        },
    },
}


def _public_get(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "security": [],
                    "tags": ["operations"], "responses": responses}}  # fmt: skip


def _engine_version() -> str:
    try:
        return version("gamify-engine")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0"


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "GamifyEngine REST",
            "version": _engine_version(),
            "description": (
                "The REST endpoints of GamifyEngine: the fulfilment callback and the "
                "point-account uploads of a point master. Errors answer "
                '`{"error": {"code", "message", "field"}}`. Everything else is GraphQL at '
                "/graphql (see schema.graphql)."
            ),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key: `Authorization: Bearer gk_...`",
                },
                "apikey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "apikey",
                    "description": "The same API key as Voyado's clients send it",
                },
            },
            "schemas": _SCHEMAS,
        },
        "paths": {
            "/api/v1/redemptions/{redemption_id}/callback": _CALLBACK,
            "/api/v1/events": _EVENTS,
            "/api/v1/rewards/{reward_id}/codes": _CODES,
            "/api/v1/reports/{name}.csv": _REPORT,
            f"{UPLOADS}/balances": _upload("balances", "BalanceItem", "FOLLOWER_BALANCE"),
            f"{UPLOADS}/transactions": _upload(
                "transactions", "TransactionItem", "FOLLOWER_TRANSACTIONS"
            ),
            f"{UPLOADS}/balances/status/{{batch_id}}": _status("balances"),
            f"{UPLOADS}/transactions/status/{{batch_id}}": _status("transactions"),
            PATH: _public_get(
                "openapi",
                "This document",
                {"200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {}}}}},
            ),
            "/health": _public_get(
                "health",
                "Liveness: the process and its database answer",
                {
                    "200": _json(_ref("Health"), "Alive"),
                    "503": _json(_ref("Health"), "The database does not answer"),
                },
            ),
            "/ready": _public_get(
                "ready",
                "Readiness: the database, Redis and a worker answer",
                {
                    "200": _json(_ref("Readiness"), "Ready"),
                    "503": _json(_ref("Readiness"), "Not ready: `checks` says what is not"),
                },
            ),
        },
    }


async def openapi_endpoint(_request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())
