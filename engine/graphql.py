"""The Strawberry ASGI app: authentication into the context, production switches."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from core.errors import AuthError
from core.queue import JobQueue, NoQueue
from core.settings import Settings
from resolvers.auth import Context, authenticate
from schema.root import build_schema


class GamifyGraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,  # strawberry refuses mutations over GET regardless
            allowed_origins=settings.allowed_origins,
            keep_alive=True,
            keep_alive_interval=15,
        )
        self.settings = settings
        self.queue: JobQueue = NoQueue()  # the app's lifespan sets the Redis-backed one

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = Context(
            settings=self.settings, principal=None, request=request, response=response
        )
        try:
            context.principal = await authenticate(
                request.headers.get("authorization"), self.settings
            )
        except AuthError as exc:
            # Reported by the first resolver that needs a caller, as a top-level error.
            context.auth_error = exc
        return context
