"""What /api/ answers for a path or a method it does not serve: a coded JSON error, 404, or
405 with the methods the path does take in `Allow` (engine/openapi.py lists them). Without
it, the console's static files (mounted at /) would answer with text: a 404 for GET on an
upload path, and a 405 advertising GET for OPTIONS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Route

PATH = "/api/{rest:path}"
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def rest_fallback(routes: Sequence[BaseRoute]) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def fallback(request: Request) -> JSONResponse:
        allowed: set[str] = set()
        for route in routes:
            if isinstance(route, Route) and route.path != PATH:
                match, _ = route.matches({**request.scope, "method": "\x00"})
                if match == Match.PARTIAL:
                    allowed |= route.methods or set()
        if not allowed:
            body = {"code": "NOT_FOUND", "message": "No such endpoint", "field": None}
            return JSONResponse({"error": body}, 404)
        methods = ", ".join(sorted(allowed))
        body = {
            "code": "METHOD_NOT_ALLOWED",
            "message": f"{request.method} is not served here; use {methods}",
            "field": None,
        }
        return JSONResponse({"error": body}, 405, headers={"Allow": methods})

    return fallback
