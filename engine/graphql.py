"""The Strawberry ASGI app: authentication into the context, production switches."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from core.errors import AuthError, TokenExpired, Unauthenticated
from core.metrics import LIVE_SUBSCRIPTIONS
from core.queue import JobQueue, NoQueue
from core.rate_limit import Counters
from core.settings import Settings
from engine.cors import OriginPolicy
from engine.credential_watch import REVOKED, OpenSockets, close_unless_valid
from engine.live_groups import LiveGroups, shares_executions
from resolvers.auth import Context, authenticate
from resolvers.live_sharing import SHARING
from schema.root import build_schema

_JSON = msgspec.json.Encoder()


class SharingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, plus one thing: the task of each operation
    carries an offer to share its execution with identical subscriptions of this process
    (resolvers.live_sharing.SHARING, engine.live_groups), which live-update resolvers may
    take. Everything else, the protocol included, is Strawberry's."""

    view: GamifyGraphQL
    _watched: UUID | None = None  # the credential subject under engine.credential_watch

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Runs as the operation's own task: the context variable is this operation's alone.
        # Groups reach into Strawberry's handler: only on the version they were checked with.
        if shares_executions():
            SHARING.set(self.view.live_groups.offer(self, operation))
        with LIVE_SUBSCRIPTIONS.track_inprogress():
            await super().run_operation(operation)

    # The credential stays under watch while the socket is open (engine.credential_watch).
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None and self._watched is None:
            self._watched = principal.subject_id
            self.view.sockets.add(self, principal.subject_id, principal.expires_at)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # A credential revoked, expired or deleted since connection_init starts nothing.
        if self.connection_acknowledged and not await close_unless_valid(self):
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._watched is not None:
            self.view.sockets.remove(self, self._watched)
        await super().shutdown()

    async def recheck(self) -> None:
        params = self.context.connection_params or {}
        credential = params.get("Authorization") or params.get("authorization")
        try:
            again = await authenticate(credential, self.view.settings, fresh=True)
        except TokenExpired:
            raise
        except AuthError:
            principal = self.context.principal
            if principal is not None and principal.kind == "api_key":
                # It authenticated at connection_init: it was revoked since.
                raise Unauthenticated(REVOKED[1]) from None
            raise
        if again != self.context.principal:
            raise Unauthenticated("Authorization required")

    async def close_for(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, OSError):  # already closed
            await self.websocket.close(code=code, reason=reason)


class GamifyGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SharingTransportWSHandler

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,  # strawberry refuses mutations over GET regardless
            keep_alive=True,
            keep_alive_interval=15,
            # The legacy graphql-ws protocol has no standard way to refuse a connection.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        self.settings = settings
        self.queue: JobQueue = NoQueue()  # the app's lifespan sets the Redis-backed one
        self.broker: Any = None  # likewise, the event broker for subscriptions
        self.live_groups = LiveGroups(self.schema)
        self.sockets = OpenSockets()
        self.counters = Counters()  # the app's lifespan connects them to Redis
        self.origins = OriginPolicy(settings.allowed_origins)

    def encode_json(self, data: object) -> str:
        # Every answer and WebSocket message (text: bytes would go out as binary frames).
        # msgspec writes a widget's catalog in a tenth of json.dumps's time, integers past
        # 64 bits included (orjson refuses those; installed, it would also become
        # Tortoise's JSON codec, which reads them back as floats).
        return _JSON.encode(data).decode()

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        # Which origins may connect depends on the credential's tenant, known only at
        # connection_init: on_ws_connect checks it there (the credential is not a cookie,
        # so a page cannot use one it was not given by opening the socket).
        return True

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = Context(
            settings=self.settings,
            principal=None,
            request=request,
            response=response,
            queue=self.queue,
            broker=self.broker,
            counters=self.counters,
        )
        if isinstance(request, WebSocket):
            return context  # WebSockets authenticate in connection_init (on_ws_connect)
        try:
            context.principal = await authenticate(
                request.headers.get("authorization"), self.settings
            )
            if context.principal is not None:
                await self.origins.check(
                    self.origins.foreign_origin(request.headers, request.url.scheme),
                    context.principal.tenant_id,
                )
        except AuthError as exc:
            # Reported by the first resolver that needs a caller, as a top-level error.
            context.auth_error = exc
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Authenticate in `connection_init` with the same credentials as HTTP:
        `{"Authorization": "Bearer ..."}`. Refused connections close with 4403."""
        params = context.connection_params or {}
        credential = params.get("Authorization") or params.get("authorization")
        if not isinstance(credential, str):
            raise ConnectionRejectionError({"message": "Authorization required"})
        try:
            context.principal = await authenticate(credential, self.settings, fresh=True)
            if context.principal is not None:
                socket = context.request
                scheme = "https" if socket.url.scheme == "wss" else "http"
                await self.origins.check(
                    self.origins.foreign_origin(socket.headers, scheme),
                    context.principal.tenant_id,
                )
        except AuthError as exc:
            raise ConnectionRejectionError({"message": exc.message}) from exc
        if context.principal is None:
            raise ConnectionRejectionError({"message": "Authorization required"})
        return {"tenantId": str(context.principal.tenant_id), "as": context.principal.kind}
