"""Request bodies at the door: size limit, UTF-8, strict JSON, storable text.

`BodyGuard` (ASGI middleware) reads the body of every POST to `/graphql` and `/api/` up
to the configured limit (413 `BODY_TOO_LARGE` beyond it) and, for `/graphql`, also checks
that it is a JSON object the GraphQL layer can take (and, for GET, that its `variables`
parameter is such JSON); the REST handlers parse theirs with `parse_json`. Refusals are
coded in each endpoint's own error shape:
`{"errors": [{"message", "extensions": {"code", "field"}}]}` on `/graphql`,
`{"error": {"code", "message", "field"}}` on the REST endpoints.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import Code
from core.text import TextCode, json_problem

GRAPHQL_PATH = "/graphql"
REST_PREFIX = "/api/"


class BodyCode(Code):
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    INVALID_UTF8 = "INVALID_UTF8"
    INVALID_JSON = "INVALID_JSON"
    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_REQUEST = "INVALID_REQUEST"  # not the JSON object a GraphQL request is
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # e.g. not text/csv for a CSV upload


class BadBody(Exception):
    """A body the engine will not take; `status` is the HTTP answer."""

    def __init__(
        self,
        message: str,
        code: BodyCode | TextCode,
        *,
        status: int = 400,
        field: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field


def _too_large(limit: int) -> BadBody:
    return BadBody(f"The body is larger than {limit} bytes", BodyCode.BODY_TOO_LARGE, status=413)


def _no_constant(name: str) -> Any:
    raise BadBody(f"{name} is not a JSON number", BodyCode.INVALID_NUMBER)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody(f"{text} is out of range", BodyCode.INVALID_NUMBER)
    return value


def parse_json(raw: bytes, *, text: bool = True) -> Any:
    """Strict JSON from a client: UTF-8, no NaN/Infinity, finite numbers, at most
    core.text.MAX_JSON_DEPTH deep, and (with `text`) no string that cannot be stored (NUL,
    lone surrogates)."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("The body is not UTF-8", BodyCode.INVALID_UTF8) from None
    try:
        value = json.loads(decoded or "null", parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        # The C decoder stops at the interpreter's recursion limit, long before memory runs out.
        raise BadBody("The JSON is nested too deep", TextCode.TOO_DEEP) from None
    except ValueError as exc:  # also the digit limit of huge integers
        raise BadBody("The body is not valid JSON", BodyCode.INVALID_JSON) from exc
    problem = json_problem(value, text=text)
    if problem is not None:
        raise BadBody(problem.message, problem.code, field=problem.field or None)
    return value


def error_json(path: str, exc: BadBody) -> JSONResponse:
    if path == GRAPHQL_PATH:
        extensions = {"code": exc.code, **({"field": exc.field} if exc.field else {})}
        return JSONResponse(
            {"errors": [{"message": exc.message, "extensions": extensions}]}, exc.status
        )
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}, exc.status
    )


async def read_limited(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _graphql_body(raw: bytes) -> None:
    # Strings are checked by the schema (schema/text_input.py), for every transport, with
    # the path of the variable or argument that holds them.
    body = parse_json(raw, text=False)
    if not isinstance(body, dict):
        raise BadBody(
            "Send a JSON object: {query, variables, operationName}", BodyCode.INVALID_REQUEST
        )


def _graphql_query_variables(scope: Scope) -> None:
    """GET /graphql?query=...&variables=...: the variables are JSON too."""
    if scope["path"] != GRAPHQL_PATH:
        return
    variables = QueryParams(scope.get("query_string", b"")).get("variables")
    if variables:
        parse_json(variables.encode("utf-8", "surrogatepass"), text=False)


class BodyGuard:
    """The checks above, in front of the GraphQL and REST routes; other routes pass through."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, path: str) -> int | None:
        if path == GRAPHQL_PATH:
            return self.max_bytes
        if (
            path.startswith("/api/v2/point-accounts/")
            or path == "/api/v1/events"
            or _is_code_upload(path)
        ):
            return self.max_upload_bytes
        if path.startswith(REST_PREFIX):
            return self.max_bytes
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "GET":
                _graphql_query_variables(scope)
                await self.app(scope, receive, send)
                return
            raw = await self._body(scope, receive, limit)
        except BadBody as exc:
            await error_json(scope["path"], exc)(scope, receive, send)
            return
        await self.app(scope, _replay(raw, receive), send)

    async def _body(self, scope: Scope, receive: Receive, limit: int) -> bytes:
        headers = Headers(scope=scope)
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise _too_large(limit)  # refused before reading a byte of it
        raw = await read_limited(receive, limit)
        if scope["path"] == GRAPHQL_PATH and "application/json" in headers.get("content-type", ""):
            _graphql_body(raw)
        return raw


def _is_code_upload(path: str) -> bool:
    """POST /api/v1/rewards/{id}/codes: up to 100,000 voucher codes (engine.code_pools_rest)."""
    return path.startswith("/api/v1/rewards/") and path.endswith("/codes")


def _replay(raw: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()  # after the body: disconnect, as the server reports it

    return replayed
