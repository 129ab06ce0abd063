"""The Starlette application: GraphQL over HTTP and WebSocket, health, static pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from core.settings import Settings, load_settings, tortoise_config
from engine.graphql import GamifyGraphQL

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


async def health(_request: Request) -> JSONResponse:
    """Liveness plus a database round trip, for load balancers."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:
        return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings, *, init_orm: bool = True) -> Starlette:
    """The ASGI app. `init_orm=False` when the caller already initialised Tortoise (tests)."""
    graphql = GamifyGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not init_orm:
            yield
            return
        async with RegisterTortoise(
            app,
            config=tortoise_config(settings.effective_database_url, settings.db_pool_size),
            _enable_global_fallback=True,
        ):
            yield

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/health", health),
    ]
    if WEB_DIR.is_dir():
        routes.append(Mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web"))
    return Starlette(routes=routes, lifespan=lifespan, debug=settings.debug)


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory engine.app:app_from_env` (several worker processes)."""
    return create_app(load_settings())
