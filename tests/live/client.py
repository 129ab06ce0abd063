"""A graphql-transport-ws client on a real WebSocket, spoken by hand for the tests.

connection_init -> connection_ack -> subscribe {id, payload} -> next / error / complete.
Every wait is bounded: a missing message fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"
WAIT = 10.0  # seconds any single expected message may take on a loaded CI machine

REDEMPTION_UPDATES = """
subscription($filter: RedemptionUpdateFilter, $after: ID) {
  redemptionUpdates(filter: $filter, after: $after) {
    eventId oldStatus newStatus at
    redemption { id status pointsSpent fulfillmentData }
    event { id kind fromStatus toStatus actor data }
  }
}"""
MY_REDEMPTION_UPDATES = """
subscription($after: ID) {
  myRedemptionUpdates(after: $after) {
    eventId oldStatus newStatus redemption { id status } event { id kind }
  }
}"""
MY_BALANCE = "subscription { myBalanceChanged { accountId balance pending at } }"


class Closed(AssertionError):
    """The server closed the socket while a message was expected."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"WebSocket closed by the server: {code} {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Operation:
    """What the server sent for one subscription id, in order."""

    id: str
    results: deque[dict[str, Any]] = field(default_factory=deque)  # `next` payloads
    received_at: list[float] = field(default_factory=list)  # monotonic time of each `next`
    errors: list[Any] = field(default_factory=list)  # `error` payloads
    completed: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class SubscriptionClient:
    """One WebSocket; several subscriptions multiplexed on it by id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ack: dict[str, Any] | None = None
        self.operations: dict[str, Operation] = {}
        self._reader: asyncio.Task[None] | None = None
        self.closed: Closed | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connected(
        cls, url: str, authorization: str | None, **options: Any
    ) -> AsyncIterator[SubscriptionClient]:
        """Connected and acknowledged (connection_ack), closed on exit."""
        async with cls.opened(url, **options) as client:
            await client.init(authorization)
            yield client

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(
        cls, url: str, *, sock: socket.socket | None = None, **options: Any
    ) -> AsyncIterator[SubscriptionClient]:
        """The WebSocket is open; nothing has been said yet. Uncompressed unless
        `compression="deflate"` (what browsers negotiate)."""
        options.setdefault("compression", None)
        ws = await websockets.connect(
            url,
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            proxy=None,
            open_timeout=WAIT,
            close_timeout=2,
            sock=sock,
            **options,
        )
        client = cls(ws)
        try:
            assert ws.subprotocol == PROTOCOL
            yield client
        finally:
            await client.close()

    async def init(self, authorization: str | None, *, read: bool = True) -> dict[str, Any]:
        """connection_init, connection_ack; then, unless `read` is False, read in the background."""
        payload = {"Authorization": authorization} if authorization is not None else {}
        await self.send({"type": "connection_init", "payload": payload})
        message = await self._receive()
        assert message["type"] == "connection_ack", message
        self.ack = message.get("payload")
        if read:
            self.start_reading()
        return message

    def start_reading(self) -> None:
        assert self._reader is None
        self._reader = asyncio.create_task(self._read())

    async def refused(self) -> Closed:
        """connection_init without a usable credential: the close the server answers with."""
        try:
            message = await self._receive()
        except Closed as closed:
            return closed
        raise AssertionError(f"expected the server to close, got {message}")

    async def subscribe(
        self, id: str, query: str, variables: dict[str, Any] | None = None
    ) -> Operation:
        operation = self.operations[id] = Operation(id)
        await self.send(
            {"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        return operation

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def _receive(self) -> dict[str, Any]:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), WAIT)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
        message: dict[str, Any] = json.loads(raw)
        return message

    async def _read(self) -> None:
        """Sorts what arrives by operation id; answers pings."""
        while True:
            try:
                raw = await self.ws.recv()
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                self.closed = Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
                for operation in self.operations.values():
                    operation.arrived.set()
                return
            message = json.loads(raw)
            kind = message["type"]
            if kind == "ping":
                await self.send({"type": "pong"})
                continue
            if kind == "pong":
                continue
            operation = self.operations[message["id"]]
            if kind == "next":
                operation.results.append(message["payload"])
                operation.received_at.append(time.monotonic())
            elif kind == "error":
                operation.errors.append(message["payload"])
            elif kind == "complete":
                operation.completed = True
            operation.arrived.set()

    async def complete(self, id: str) -> None:
        """The client is done with a subscription."""
        await self.send({"id": id, "type": "complete"})

    def received(self, id: str) -> list[dict[str, Any]]:
        """Every result of a subscription so far (one field each), taken off its queue."""
        operation = self.operations[id]
        items = []
        while operation.results:
            result = operation.results.popleft()
            assert "errors" not in result, result
            (value,) = result["data"].values()
            items.append(value)
        return items

    async def next(self, id: str, within: float = WAIT) -> dict[str, Any]:
        """The next `next` payload of a subscription (data and/or errors)."""
        operation = self.operations[id]
        async with asyncio.timeout(within):
            while not operation.results:
                if operation.errors or operation.completed:
                    raise AssertionError(
                        f"{id} ended: errors={operation.errors} completed={operation.completed}"
                    )
                if self.closed is not None:
                    raise self.closed
                operation.arrived.clear()
                await operation.arrived.wait()
        return operation.results.popleft()

    async def data(self, id: str, within: float = WAIT) -> dict[str, Any]:
        """The next result's `data` of a subscription, which must carry no error."""
        result = await self.next(id, within)
        assert "errors" not in result, result
        data: dict[str, Any] = result["data"]
        return data

    async def collect(self, id: str, count: int, within: float = WAIT) -> list[dict[str, Any]]:
        """The next `count` results' data (one field each), in arrival order."""
        items = []
        async with asyncio.timeout(within):
            for _ in range(count):
                (value,) = (await self.data(id)).values()
                items.append(value)
        return items

    async def ended(self, id: str, within: float = WAIT) -> Operation:
        """Wait until the server completes the operation or reports an error for it."""
        operation = self.operations[id]
        async with asyncio.timeout(within):
            while not (operation.completed or operation.errors or self.closed):
                operation.arrived.clear()
                await operation.arrived.wait()
        return operation

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.ws.close()


def error_codes(result: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors") or []]
