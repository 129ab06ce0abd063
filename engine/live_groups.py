"""Identical live subscriptions share one execution and one encoded frame per event.

A group is the set of subscriptions of this process whose results are the same: same
document, operation name, variables (but `after`) and caller scope (resolvers.live_sharing).
The group runs that document itself, once, through Strawberry (parsing, validation,
extensions and error masking as for any operation), with the context of its first member
but no socket. Each result is JSON-encoded once; for every member only its operation id
differs, so the bytes after the id are shared and the frame is written straight to the
member's transport (engine.websocket) in one loop: no task, no execution, no encoding per
subscriber.

What stays per member:
- its own operation: Strawberry parsed, validated and started it, the resolver checked the
  caller and replayed after its cursor, and it ends with that operation's own error or
  `complete`;
- its buffer: a member whose socket does not take a frame right now (paused transport, no
  frame writer, still replaying) gets its frames queued, in order, and sent by its own
  operation task through ASGI; past `buffer` queued frames it is dropped with
  SUBSCRIBER_TOO_SLOW naming the last event it was given, and the group carries on;
- the seam of a resume: what arrived while it replayed is held, then sent minus what it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocketDisconnect
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from core.broker import DEFAULT_BUFFER
from engine.websocket import FRAMES, FrameWriter, text_frame
from resolvers.live import RESUME_CODES
from resolvers.live_sharing import LEADING, SHARING, Ending

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
        Operation,
    )

log = logging.getLogger(__name__)
# Groups use Strawberry's transport-ws handler internals (its operations, context, view's
# encoder, its Starlette socket): checked against this version; on another one every
# subscription runs on its own, as stock Strawberry runs it.
CHECKED_STRAWBERRY_VERSION = "0.341.2"
COMPLETED = Ending(None, None)
TOO_SLOW = Ending("SUBSCRIBER_TOO_SLOW", None)
_Key = tuple[Hashable, str, str | None, str]


INSTALLED_STRAWBERRY_VERSION = version("strawberry-graphql")  # read once: not per subscribe


def shares_executions() -> bool:
    return INSTALLED_STRAWBERRY_VERSION == CHECKED_STRAWBERRY_VERSION


class LiveGroups:
    """The groups of one process (one per GraphQL app)."""

    def __init__(self, schema: BaseSchema, buffer: int = DEFAULT_BUFFER) -> None:
        self.schema = schema
        self.buffer = buffer
        self._groups: dict[_Key, _Group] = {}

    def offer(
        self, handler: BaseGraphQLTransportWSHandler[Any, Any], op: Operation[Any, Any]
    ) -> _Offer:
        """The offer to share `op`'s execution (engine.graphql); made only where
        `shares_executions()`, as it uses the handler's internals."""
        return _Offer(self, handler, op)

    def members(self) -> list[_Member]:
        """Every member of every group (tests and diagnostics)."""
        return [m for group in self._groups.values() for m in group.members]

    @property
    def groups(self) -> int:
        return len(self._groups)

    def _group(
        self,
        key: _Key,
        handler: BaseGraphQLTransportWSHandler[Any, Any],
        variables: dict[str, Any] | None,
        op: Operation[Any, Any],
    ) -> _Group:
        group = self._groups.get(key)
        if group is None:
            # The group's context is its first member's, less the socket: the key holds
            # everything of the caller the results depend on.
            context = dataclasses.replace(
                handler.context, request=None, response=None, connection_params=None
            )
            group = _Group(self, key, op.query, variables, op.operation_name, context)
            group.encode = handler.view.encode_json
            self._groups[key] = group
            group.start(handler.root_value)
        return group

    def _forget(self, group: _Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]


class _Offer:
    """resolvers.live_sharing.Sharing for one WebSocket operation."""

    def __init__(
        self,
        groups: LiveGroups,
        handler: BaseGraphQLTransportWSHandler[Any, Any],
        op: Operation[Any, Any],
    ) -> None:
        self.groups, self.handler, self.op = groups, handler, op

    @contextlib.asynccontextmanager
    async def join(self, scope: Hashable, after_variable: str | None) -> AsyncIterator[_Member]:
        variables = dict(self.op.variables or {})
        if after_variable is not None:
            # The group itself never replays; resumers join those who never left.
            variables.pop(after_variable, None)
        canonical = json.dumps(variables, sort_keys=True, separators=(",", ":"), default=str)
        key = (scope, self.op.query, self.op.operation_name, canonical)
        group = self.groups._group(key, self.handler, variables, self.op)
        member = _Member(self, group)
        group.members[member] = None
        try:
            await asyncio.shield(group.ready)
            yield member
        finally:
            group.leave(member)


class _Group:
    def __init__(
        self,
        groups: LiveGroups,
        key: _Key,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> None:
        self.groups, self.key = groups, key
        self.query, self.variables, self.operation_name = query, variables, operation_name
        self.context = context
        self.encode: Callable[[object], str | bytes] = json.dumps
        self.members: dict[_Member, None] = {}  # in joining order
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.event_id: int | None = None  # what the result being computed is about
        self.task: asyncio.Task[None] | None = None

    # resolvers.live_sharing.Leader, called by the group's own resolver
    def subscribed(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def about(self, event_id: int | None) -> None:
        self.event_id = event_id

    def start(self, root_value: Any) -> None:
        self.task = asyncio.create_task(self._run(root_value))

    def leave(self, member: _Member) -> None:
        self.members.pop(member, None)
        if not self.members and self.task is not None:
            self.groups._forget(self)
            self.task.cancel()

    async def _run(self, root_value: Any) -> None:
        # This task was started from a member's operation task and inherited its context.
        SHARING.set(None)
        LEADING.set(self)
        ending = COMPLETED
        try:
            stream = await self.groups.schema.subscribe(
                self.query,
                variable_values=self.variables,
                context_value=self.context,
                root_value=root_value,
                operation_name=self.operation_name,
            )
            async with aclosing(stream):
                async for result in stream:
                    final = _final(result)
                    if final is not None:
                        self.groups._forget(self)  # who joins from now on starts anew
                        ending = final
                        break
                    self._deliver(result)
                    self.event_id = None
        except Exception:
            log.exception("a shared live subscription failed")
            ending = Ending("INTERNAL_SERVER_ERROR", {"message": "Unexpected error."})
        finally:
            self.groups._forget(self)
            for member in self.members:
                member.end(ending)
            if not self.ready.done():  # ended before subscribing: its members see the ending
                self.ready.set_result(None)

    def _deliver(self, result: ExecutionResult) -> None:
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        encoded = self.encode(payload)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        tail = (text + "}").encode()
        event_id = self.event_id
        for member in self.members:
            member.offer(text, tail, event_id)


def _final(result: ExecutionResult) -> Ending | None:
    """The group's stream ends with this result: a pre-execution error, or the resolver
    saying its subscribers must resume (every member then says so with its own cursor)."""
    if isinstance(result, PreExecutionError) and result.errors:
        return Ending(None, result.errors[0].formatted)
    for error in result.errors or ():
        code = (error.extensions or {}).get("code")
        if code in RESUME_CODES:
            return Ending(code, error.formatted)
    return None


class _Member:
    """resolvers.live_sharing.Seat: one operation in a group."""

    def __init__(self, offer: _Offer, group: _Group) -> None:
        self.handler, self.op, self.group = offer.handler, offer.op, group
        ws = self.handler.websocket.ws  # type: ignore[attr-defined]  # Starlette's WebSocket
        self.ws = ws
        self.writer: FrameWriter | None = ws.scope.get("extensions", {}).get(FRAMES)
        prefix = '{"id":' + json.dumps(self.op.id) + ',"type":"next","payload":'
        self.prefix_text, self.prefix = prefix, prefix.encode()
        self.queue: deque[tuple[str, int | None]] = deque()
        self.limit = group.groups.buffer
        self.wake = asyncio.Event()
        self.live = False  # False while the resolver replays: everything is queued
        self.sending = False  # a queued frame is being sent through ASGI
        self.skip: Callable[[int], bool] | None = None
        self.last: int | None = None
        self.ending: Ending | None = None

    def current(self) -> bool:
        """The operation is still running (the client did not complete it)."""
        return self.handler.operations.get(self.op.id) is self.op and not self.op.completed

    def offer(self, text: str, tail: bytes, event_id: int | None) -> None:
        """A result of the group, from its delivery loop: must not wait, must be cheap."""
        if self.ending is not None:
            return
        if self.live:
            if event_id is not None and self.skip is not None and self.skip(event_id):
                return
            if (
                self.writer is not None
                and not self.queue
                and not self.sending
                and self.current()
                and self.writer.write(text_frame(self.prefix, tail))
            ):
                if event_id is not None:
                    self.last = event_id
                return
        if len(self.queue) >= self.limit:
            # This subscriber alone fell behind: what it has queued would only delay
            # the error that tells it to resume.
            self.queue.clear()
            self.end(TOO_SLOW)
            return
        self.queue.append((text, event_id))
        self.wake.set()

    def end(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
            self.wake.set()

    async def serve(self, skip: Callable[[int], bool] | None, last_event_id: int | None) -> Ending:
        self.skip, self.last = skip, last_event_id
        self.live = True
        while True:
            while self.queue:
                self.sending = True
                try:
                    text, event_id = self.queue.popleft()
                    if event_id is not None and skip is not None and skip(event_id):
                        continue
                    await self._send(self.prefix_text + text + "}")
                    if event_id is not None:
                        self.last = event_id
                finally:
                    self.sending = False
            if self.ending is not None:
                return dataclasses.replace(self.ending, last_event_id=self.last)
            self.wake.clear()
            await self.wake.wait()

    async def _send(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError):
            # The socket is gone: the connection's handler cancels this operation soon.
            await asyncio.get_running_loop().create_future()
