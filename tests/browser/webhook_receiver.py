"""A webhook receiver (and fake point master) for the admin console's browser tests, run
as its own process: `python webhook_receiver.py <port>`. Standard library only.

Each path answers as last told (`POST /__reply/<path>` with {"status": 500, "body": {...}});
`GET /__received/<path>` lists what was POSTed to it; a GET on any other path answers its
reply too (the fake master's points log).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    replies: dict[str, tuple[int, Any]] = {}
    received: dict[str, list[dict[str, Any]]] = {}
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read /__received
        return

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode() if body is not None else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        if path.startswith("__received/"):
            with self.lock:
                self._answer(200, self.received.get(path.removeprefix("__received/"), []))
            return
        with self.lock:
            status, body = self.replies.get(path.split("?")[0], (404, {"error": "no reply set"}))
        self._answer(status, body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.lstrip("/")
        if path.startswith("__reply/"):
            told = json.loads(raw)
            with self.lock:
                self.replies[path.removeprefix("__reply/")] = (told["status"], told["body"])
            self._answer(200, {})
            return
        with self.lock:
            self.received.setdefault(path, []).append(
                {"headers": dict(self.headers), "body": json.loads(raw or b"null")}
            )
            status, body = self.replies.get(path, (200, {}))
        self._answer(status, body)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
