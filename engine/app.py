"""The Starlette application: GraphQL over HTTP and WebSocket, health, static pages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from arq import create_pool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route, WebSocketRoute
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from core.broker import Broker
from core.queue import ArqQueue, JobQueue, NoQueue
from core.settings import Settings, load_settings, tortoise_config
from engine.code_pools_rest import code_routes
from engine.cors import CORSMiddleware
from engine.credential_watch import watch_revocations
from engine.events_rest import event_routes
from engine.graphql import GamifyGraphQL
from engine.heap import freeze_started_heap
from engine.logging_setup import configure_logging
from engine.metrics import metrics_endpoint
from engine.openapi import PATH as OPENAPI_PATH
from engine.openapi import openapi_endpoint
from engine.pointmaster_rest import pointmaster_routes
from engine.rate_limit import RateLimitMiddleware
from engine.readiness import ready_endpoint
from engine.reports_csv import report_routes
from engine.request_body import BodyGuard
from engine.request_id import RequestIdMiddleware
from engine.request_metrics import RequestMetricsMiddleware
from engine.rest import callback_endpoint
from engine.rest_fallback import ANY_METHOD, rest_fallback
from engine.rest_fallback import PATH as REST_FALLBACK_PATH
from engine.static import WebFiles
from workers.settings import redis_settings_from_url

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
    queue = LazyQueue()
    callback_broker = LazyBroker()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if init_orm:
                await stack.enter_async_context(
                    RegisterTortoise(
                        app,
                        config=tortoise_config(
                            settings.effective_database_url, settings.db_pool_size
                        ),
                        _enable_global_fallback=True,
                    )
                )
            if settings.redis_url:
                pool = await create_pool(redis_settings_from_url(settings.redis_url))
                stack.push_async_callback(pool.aclose)
                queue.target = ArqQueue(pool)
                broker = Broker(settings.redis_url)
                stack.push_async_callback(broker.close)
                graphql.broker = broker
                callback_broker.target = broker
                graphql.counters.connect(settings.redis_url)
                stack.push_async_callback(graphql.counters.close)
                watch = asyncio.create_task(watch_revocations(settings.redis_url, graphql.sockets))
                stack.push_async_callback(_cancelled, watch)
            yield

    graphql.queue = queue

    def app_redis() -> Any:
        return getattr(queue.target, "pool", None)  # the lifespan's arq pool, once connected

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route(
            "/api/v1/redemptions/{redemption_id}/callback",
            callback_endpoint(settings, queue, callback_broker),
            methods=["POST"],
        ),
        *pointmaster_routes(settings, queue),
        *event_routes(settings, queue, callback_broker),
        Route(OPENAPI_PATH, openapi_endpoint, methods=["GET"]),  # describes the REST routes
        *code_routes(settings, queue),
        *report_routes(settings),
        WebSocketRoute("/graphql", graphql),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready_endpoint(settings, app_redis), methods=["GET"]),
        Route("/metrics", metrics_endpoint(settings, app_redis)),
    ]
    # After every /api/ route: JSON 404/405 for what they do not serve (not the console's files).
    routes.append(Route(REST_FALLBACK_PATH, rest_fallback(routes), methods=ANY_METHOD))
    if WEB_DIR.is_dir():
        routes.append(Route("/", lambda _request: RedirectResponse("/admin/")))
        routes.append(Mount("/", WebFiles(directory=WEB_DIR, html=True), name="web"))
    # Outermost first: each entry wraps the ones after it and the routes.
    middleware: list[Middleware] = [
        Middleware(RequestIdMiddleware),
        Middleware(RequestMetricsMiddleware),
        Middleware(CORSMiddleware, policy=graphql.origins),
        Middleware(
            BodyGuard,
            max_bytes=settings.max_body_bytes,
            max_upload_bytes=settings.max_upload_bytes,
        ),
        Middleware(
            RateLimitMiddleware,
            counters=graphql.counters,
            per_address=settings.rate_limit_per_address,
            per_credential=settings.rate_limit_per_credential,
            window=settings.rate_limit_window,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan, debug=settings.debug)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class LazyQueue:
    """The queue handle given to request handlers before the lifespan has connected."""

    def __init__(self) -> None:
        self.target: JobQueue = NoQueue()

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        await self.target.enqueue(function, *args, job_id=job_id)


class LazyBroker:
    """Lets request handlers publish through the broker the lifespan connects, if any."""

    def __init__(self) -> None:
        self.target: Broker | None = None

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        if self.target is not None:
            await self.target.publish(channel, message)

    async def listening(self, channel: str) -> bool:
        return self.target is not None and await self.target.listening(channel)


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory engine.app:app_from_env` (several worker processes)."""
    settings = load_settings()
    # uvicorn runs with log_config=None: each worker process sets up its own logging.
    configure_logging(settings.log_format, verbose=True)
    app = create_app(settings)
    freeze_started_heap()  # this process serves for life: see engine.heap
    return app
