#!/usr/bin/env python
"""`gamify serve --no-worker` with what-if patches, for `bench/subscriptions.py --whatif V`.

Not the engine and not for production: each variant is a monkeypatch that estimates what
a change in the engine would buy, measured with the same benchmark. Cumulative:

  memo     RedemptionUpdate.from_message() builds ONE object per broker message, shared by
           every subscriber (today each subscriber rebuilds two Tortoise models from it).
  shared   + the subscription's selection set is executed once per (event, operation
           document, variables) and the ExecutionResult is shared by every subscriber
           with the same document (today graphql-core executes it per subscriber). Only
           valid because RedemptionUpdate's fields do not depend on who asks.
  encoded  + the `next` payload is JSON-encoded once per event and document; each
           subscriber only splices its operation id and sends the text.
  broadcast + one subscriber per (filter, document, variables) group, the leader, runs
           through Strawberry as before; the others only join the group and never yield.
           When the leader's `next` is sent, the same WebSocket frame (built once) is
           written straight to every member's transport in one loop, bypassing the
           per-subscriber task, Strawberry's stream pipeline and the ASGI send path.
           What-if limits: `after` (replay) subscriptions stay on the normal path; one
           operation per connection; members use the leader's operation id; if the
           leader leaves, its group's members are no longer served (a real hub would
           execute the document itself instead of borrowing a leader).

Usage: python bench/subscriptions_whatif.py VARIANT   (env as for `gamify serve`)
"""

from __future__ import annotations

import functools
import json
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("memo", "shared", "encoded", "broadcast")
_CACHE_SIZE = 256


class _Lru(OrderedDict[Any, Any]):
    """Keeps the keyed objects alive (their ids stay unique while cached)."""

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > _CACHE_SIZE:
            self.popitem(last=False)


def patch_memo() -> None:
    from schema import live

    original = live.RedemptionUpdate.from_message.__func__  # type: ignore[attr-defined]
    key = "__bench_update__"

    def from_message(cls: Any, message: dict[str, Any]) -> Any:
        update = message.get(key)
        if update is None:
            update = original(cls, message)
            message[key] = update  # the broker hands the same dict to every subscriber
        return update

    live.RedemptionUpdate.from_message = classmethod(from_message)  # type: ignore[method-assign,assignment]


def patch_shared() -> None:
    import importlib

    # `graphql.execution.execute` is also the name of a function: go by the module.
    gx = importlib.import_module("graphql.execution.execute")

    results = _Lru()
    original = gx.map_source_to_response_event

    def shared_executor(executor: Any) -> Any:
        payload = executor.root_value
        coerced = getattr(executor.variable_values, "coerced", None) or {}
        key = (id(payload), id(executor.operation), repr(sorted(coerced.items(), key=str)))
        hit = results.get(key)
        if hit is not None and hit[0] is payload and hit[1] is executor.operation:
            return hit[2]
        result = gx.execute_subscription_event(executor)
        if executor.is_awaitable(result):
            return result  # not shared (our resolvers are synchronous)
        results.put(key, (payload, executor.operation, result))
        return result

    def map_source_to_response_event(executor: Any, stream: Any, *args: Any) -> Any:
        return original(executor, stream, shared_executor)

    gx.map_source_to_response_event = map_source_to_response_event  # type: ignore[attr-defined]


def patch_encoded() -> None:
    from strawberry.subscriptions.protocols.graphql_transport_ws import handlers

    texts = _Lru()
    original = handlers.Operation.send_next

    async def send_next(self: Any, execution_result: Any) -> None:
        data = execution_result.data
        if execution_result.errors or execution_result.extensions or data is None:
            await original(self, execution_result)
            return
        if self.completed:
            return
        hit = texts.get(id(data))
        if hit is None or hit[0] is not data:
            hit = (data, json.dumps({"data": data}))
            texts.put(id(data), hit)
        text = f'{{"id":{json.dumps(self.id)},"type":"next","payload":{hit[1]}}}'
        await self.handler.websocket.ws.send_text(text)

    handlers.Operation.send_next = send_next  # type: ignore[method-assign]


class _Group:
    def __init__(self) -> None:
        self.members: set[Any] = set()  # uvicorn WebSocket protocol objects
        self.leader_gone = False


_GROUPS: dict[Any, _Group] = {}
_LEADERS: dict[int, _Group] = {}  # id(starlette WebSocket) of a leader -> its group


def _frame(text: str) -> bytes:
    """An unmasked, unfragmented server text frame (RFC 6455)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 65536:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


def patch_broadcast() -> None:
    import asyncio

    from strawberry.subscriptions.protocols.graphql_transport_ws import handlers
    from uvicorn.protocols.websockets import websockets_sansio_impl as wsi

    from resolvers import live

    run_asgi = wsi.WebSocketsSansIOProtocol.run_asgi

    async def stash_protocol(self: Any) -> None:
        self.scope["bench.protocol"] = self  # so a resolver can reach the transport
        await run_asgi(self)

    wsi.WebSocketsSansIOProtocol.run_asgi = stash_protocol  # type: ignore[method-assign]

    original = live.redemption_updates
    told: list[bool] = []

    @functools.wraps(original)  # Strawberry reads the arguments from the signature
    async def redemption_updates(info: Any, filter: Any = None, after: Any = None) -> Any:
        if after is not None:
            async for update in original(info, filter, after):
                yield update
            return
        live.require(info, live.BACKEND)
        raw = info._raw_info
        tenant = info.context.principal.tenant_id
        key = (tenant, repr(filter), id(raw.operation), repr(raw.variable_values))
        ws = info.context.request
        group = _GROUPS.get(key)
        if group is None or group.leader_gone:
            group = _GROUPS[key] = _Group()
            _LEADERS[id(ws)] = group
            try:
                async for update in original(info, filter, after):
                    yield update
            finally:
                group.leader_gone = True
                _LEADERS.pop(id(ws), None)
            return
        protocol = ws.scope["bench.protocol"]
        group.members.add(protocol)
        if not told:
            told.append(True)
            print("bench-whatif: broadcast groups in use", file=sys.stderr, flush=True)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            group.members.discard(protocol)
        yield None  # pragma: no cover - never reached; makes this an async generator

    live.redemption_updates = redemption_updates  # before schema.root reads it

    send_next = handlers.Operation.send_next  # the `encoded` one

    async def broadcast_next(self: Any, execution_result: Any) -> None:
        await send_next(self, execution_result)
        group = _LEADERS.get(id(self.handler.websocket.ws))
        data = execution_result.data
        if group is None or not group.members or execution_result.errors or data is None:
            return
        text = (
            f'{{"id":{json.dumps(self.id)},"type":"next","payload":{json.dumps({"data": data})}}}'
        )
        frame = _frame(text)
        for protocol in list(group.members):
            transport = protocol.transport
            if not transport.is_closing() and not protocol.close_sent:
                transport.write(frame)

    handlers.Operation.send_next = broadcast_next  # type: ignore[method-assign]


def main() -> int:
    variant = sys.argv[1] if len(sys.argv) > 1 else ""
    if variant not in VARIANTS:
        print(f"usage: {sys.argv[0]} {{{','.join(VARIANTS)}}}", file=sys.stderr)
        return 2
    upto = VARIANTS.index(variant)
    patches = (patch_memo, patch_shared, patch_encoded, patch_broadcast)
    for patch in patches[: upto + 1]:
        patch()
    print(f"bench-whatif: {variant} ({', '.join(VARIANTS[: upto + 1])})", file=sys.stderr)
    from engine import cli

    return cli.main(["serve", "--no-worker"])


if __name__ == "__main__":
    sys.exit(main())
