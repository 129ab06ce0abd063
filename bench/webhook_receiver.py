#!/usr/bin/env python
"""A fast local webhook receiver for bench/webhooks.py (not a general-purpose server).

    python bench/webhook_receiver.py --port 8999

Plain asyncio protocol + httptools on uvloop, HTTP/1.1 keep-alive. Every POST is answered
`204 No Content` at once (an empty body: the worker sees no provider answer to act on) and
recorded as (webhook-id, time.time() at receipt). Control requests:

    GET  /stats    {"requests": n, "distinct": d}
    GET  /records  one "<webhook-id> <epoch seconds>" line per POST received, in order
    GET  /sample   the headers and body of the first POST (to check its signature)
    POST /reset    forget everything recorded

Prints "listening <port>" on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import sys
import time
from typing import cast

import httptools

RECORDS: list[tuple[bytes, float]] = []
SAMPLE: dict[str, object] = {}

NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


def _reply(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


class Receiver(asyncio.Protocol):
    __slots__ = ("body", "headers", "parser", "transport", "url", "webhook_id")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, but it is one.
        self.transport = cast(asyncio.Transport, transport)
        self.parser = httptools.HttpRequestParser(self)
        self._clear()

    def _clear(self) -> None:
        self.url = b""
        self.webhook_id = b""
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(_reply("400 Bad Request", b""))
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self.webhook_id = value
        if not SAMPLE and self.headers is not None:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        pass

    def on_message_begin(self) -> None:
        self._clear()
        if not SAMPLE:
            self.headers = []

    def on_body(self, body: bytes) -> None:
        if not SAMPLE:
            self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        if method == b"POST" and self.url != b"/reset":
            RECORDS.append((self.webhook_id, time.time()))
            self.transport.write(NO_CONTENT)
            if not SAMPLE and self.headers is not None:
                SAMPLE.update(
                    headers={k.decode(): v.decode() for k, v in self.headers},
                    body=base64.b64encode(b"".join(self.body)).decode(),
                )
        elif self.url == b"/reset":
            RECORDS.clear()
            SAMPLE.clear()
            self.transport.write(_reply("200 OK", b"{}"))
        elif self.url == b"/stats":
            stats = {"requests": len(RECORDS), "distinct": len({r[0] for r in RECORDS})}
            self.transport.write(_reply("200 OK", json.dumps(stats).encode()))
        elif self.url == b"/records":
            text = "".join(f"{i.decode()} {t:.6f}\n" for i, t in RECORDS).encode()
            self.transport.write(_reply("200 OK", text, "text/plain"))
        elif self.url == b"/sample":
            self.transport.write(_reply("200 OK", json.dumps(SAMPLE).encode()))
        else:
            self.transport.write(_reply("404 Not Found", b""))
        if not self.parser.should_keep_alive():
            self.transport.close()


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = ap.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        runner = asyncio.Runner()
    with runner:
        runner.run(main(args.port))
    sys.exit(0)
