#!/usr/bin/env python
"""Subscriber side of bench/subscriptions.py: many graphql-transport-ws connections in one
process, cheap enough to leave the CPU to the server. Started and driven by the benchmark.

Each connection is a small asyncio Protocol speaking just enough WebSocket (RFC 6455):
the receipt time is taken in `data_received`, before anything else is done; frames are
split there too (a few byte operations) so pings are answered, but the JSON is decoded
only when the records are dumped, after a phase. Redis is also read directly (one raw
pub/sub subscription on the tenant's channel) to timestamp when each event was published.

Control: one JSON command per line on stdin, one JSON answer per line on stdout.
  {"cmd": "connect", "n": N}   open N more subscribers, wait for connection_ack
  {"cmd": "count"}             subscribers that received something since the last dump
  {"cmd": "dump", "path": P}   write what was received since the last dump to P, forget it
  {"cmd": "close"}             close every subscriber
  {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from datetime import datetime
from typing import Any, cast

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

import redis.asyncio as redis

now = time.time  # the same clock as the server's datetime.now(UTC), on one machine


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (masked, as RFC 6455 requires)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return header + key + masked


def text_frame(message: dict[str, Any]) -> bytes:
    return mask_frame(0x1, json.dumps(message).encode())


class Subscriber(asyncio.Protocol):
    def __init__(self, client: Client, index: int) -> None:
        self.client = client
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.acked = False
        self.buf = bytearray()
        self.fragments: list[bytes] = []
        self.records: list[tuple[float, bytes]] = []  # (receipt time, text payload)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: str | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        c = self.client
        request = (
            f"GET {c.path} HTTP/1.1\r\nHost: {c.host}:{c.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        ts = now()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {head[:200]!r}")
                return
            self.upgraded = True
            self._send(
                text_frame({"type": "connection_init", "payload": self.client.connection_params})
            )
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                offset = 10
            if b1 & 0x80:  # a masked server frame: not expected
                offset += 4
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            self._frame(b0 & 0x0F, bool(b0 & 0x80), payload, ts)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = f"connection lost: {exc}"
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.closed))

    # -- WebSocket / graphql-transport-ws
    def _frame(self, opcode: int, fin: bool, payload: bytes, ts: float) -> None:
        if opcode == 0x0:  # continuation
            self.fragments.append(payload)
            if not fin:
                return
            payload, self.fragments = b"".join(self.fragments), []
            opcode = 0x1
        elif opcode == 0x1 and not fin:
            self.fragments = [payload]
            return
        if opcode == 0x1:
            if not self.acked:
                if b"connection_ack" in payload:
                    self.acked = True
                    self._send(text_frame(self.client.subscribe_message(self.index)))
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif b'"ping"' in payload:
                    self._send(text_frame({"type": "pong"}))
                else:
                    self._fail(f"before ack: {payload[:300]!r}")
                return
            if len(payload) < 80 and b'"ping"' in payload:
                self._send(text_frame({"type": "pong"}))
                return
            if len(payload) < 80 and b'"pong"' in payload:
                return
            self.records.append((ts, payload))
        elif opcode == 0x9:  # ping
            self._send(mask_frame(0xA, payload))
        elif opcode == 0x8:  # close
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self.closed = f"closed by server: {code} {payload[2:200]!r}"
            self.records.append((ts, json.dumps({"type": "closed", "why": self.closed}).encode()))
            if self.transport is not None:
                self._send(mask_frame(0x8, payload[:2]))
                self.transport.close()
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(self.closed))

    def _send(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _fail(self, why: str) -> None:
        self.closed = why
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.upgraded:
                self._send(mask_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.host, self.port, self.path = args.host, args.port, "/graphql"
        self.connection_params = {"Authorization": f"Bearer {args.token}"}
        self.query = args.query
        self.groups = args.groups
        self.channel = args.channel
        self.redis_url = args.redis_url
        self.subs: list[Subscriber] = []
        self.published: dict[int, float] = {}  # eventId -> when Redis handed it to us
        self.redis_task: asyncio.Task[None] | None = None
        self.redis_ready = asyncio.Event()

    def subscribe_message(self, index: int) -> dict[str, Any]:
        """The same subscription for all; with --groups K, subscriber i also sends the
        variable `group: i % K`, which the document does not use: the results are the same
        but the server sees K distinct subscriptions (K groups of identical ones)."""
        variables = {"group": index % self.groups} if self.groups > 1 else {}
        return {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": self.query, "variables": variables},
        }

    async def read_redis(self) -> None:
        """Raw pub/sub on the tenant channel: when each event was published."""
        conn = redis.from_url(self.redis_url)
        pubsub = conn.pubsub()
        await pubsub.subscribe(self.channel)
        self.redis_ready.set()
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                ts = now()
                try:
                    event_id = json.loads(message["data"]).get("eventId")
                except ValueError:
                    continue
                if event_id is not None:
                    self.published.setdefault(int(event_id), ts)
        finally:
            await pubsub.aclose()
            await conn.aclose()

    async def connect(self, n: int, parallel: int = 50) -> dict[str, Any]:
        if self.redis_task is None:
            self.redis_task = asyncio.create_task(self.read_redis())
            await asyncio.wait_for(self.redis_ready.wait(), 10)
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(parallel)
        started = now()
        failures: list[str] = []

        async def one(index: int) -> None:
            async with gate:
                try:
                    _, sub = await loop.create_connection(
                        lambda: Subscriber(self, index), self.host, self.port
                    )
                    self.subs.append(sub)
                    await asyncio.wait_for(sub.ready, 30)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    failures.append(str(exc) or type(exc).__name__)

        base = len(self.subs)
        await asyncio.gather(*(one(base + i) for i in range(n)))
        return {
            "connected": len(self.subs) - len(failures),
            "failed": len(failures),
            "first_failure": failures[0] if failures else None,
            "seconds": now() - started,
        }

    def count(self) -> dict[str, Any]:
        return {
            "with_data": sum(1 for s in self.subs if s.records),
            "records": sum(len(s.records) for s in self.subs),
            "open": sum(1 for s in self.subs if s.closed is None),
            "events": len(self.published),
        }

    def dump(self, path: str) -> dict[str, Any]:
        """Decode what was received; write one JSON file; forget it."""
        at_cache: dict[str, float] = {}
        conn: list[int] = []
        event: list[int] = []
        recv: list[float] = []
        ats: dict[int, float] = {}
        other: dict[str, int] = {}
        sample: dict[str, str] = {}
        for sub in self.subs:
            records, sub.records = sub.records, []
            for ts, payload in records:
                try:
                    message = json.loads(payload)
                except ValueError:
                    other["bad_json"] = other.get("bad_json", 0) + 1
                    continue
                kind = message.get("type")
                data = (message.get("payload") or {}).get("data") if kind == "next" else None
                update = (data or {}).get("redemptionUpdates") if data else None
                if kind != "next" or not update or message["payload"].get("errors"):
                    other[str(kind)] = other.get(str(kind), 0) + 1
                    sample.setdefault(str(kind), payload[:400].decode(errors="replace"))
                    continue
                event_id = int(update["eventId"])
                at = update.get("at")
                if at is not None and event_id not in ats:
                    if at not in at_cache:
                        at_cache[at] = datetime.fromisoformat(at).timestamp()
                    ats[event_id] = at_cache[at]
                conn.append(sub.index)
                event.append(event_id)
                recv.append(ts)
        published, self.published = self.published, {}
        with open(path, "w") as out:
            json.dump(
                {
                    "conn": conn,
                    "event": event,
                    "recv": recv,
                    "at": {str(k): v for k, v in ats.items()},
                    "published": {str(k): v for k, v in published.items()},
                    "other": other,
                    "sample": sample,
                    "closed": [s.closed for s in self.subs if s.closed][:5],
                    "n_closed": sum(1 for s in self.subs if s.closed),
                },
                out,
            )
        return {"deliveries": len(recv), "other": other}

    async def close(self) -> dict[str, Any]:
        for sub in self.subs:
            sub.close()
        await asyncio.sleep(0.5)
        n = len(self.subs)
        self.subs = []
        return {"closed": n}


async def main(args: argparse.Namespace) -> None:
    client = Client(args)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    answer({"hello": os.getpid()})
    while True:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "connect":
            answer(await client.connect(int(command["n"])))
        elif cmd == "count":
            answer(client.count())
        elif cmd == "dump":
            answer(client.dump(command["path"]))
        elif cmd == "close":
            answer(await client.close())
        elif cmd == "quit":
            break
    await client.close()
    if client.redis_task is not None:
        client.redis_task.cancel()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", default=os.environ.get("SUBS_BENCH_TOKEN"))
    ap.add_argument("--query", required=True)
    ap.add_argument("--channel", required=True)
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--groups", type=int, default=1)
    ns = ap.parse_args()
    if uvloop is not None:
        uvloop.run(main(ns))
    else:
        asyncio.run(main(ns))
