"""uvicorn's WebSocket protocol, lending the app a way to write a ready-made frame.

Live updates write one encoded `next` message to many sockets (engine.live_groups). Through
ASGI each write is an awaited `send` that builds the frame again for every socket; this
protocol puts a `FrameWriter` in the scope's extensions instead, which writes a frame the
app built once, right now or not at all. It refuses when the socket is closing or its
transport is paused (the peer does not read): the app then queues the message for that
subscriber alone and sends it through ASGI, which waits.

Frames are whole, unfragmented and uncompressed. That is valid with permessage-deflate
negotiated too (RFC 7692: a message is compressed only when RSV1 is set; the deflate
context only sees compressed ones), and, all writes being synchronous whole frames on one
event loop, never interleaves with uvicorn's own.

Serve with `uvicorn.Config(..., ws=FrameWritingProtocol)` or
`--ws engine.websocket:FrameWritingProtocol`; without it everything goes through ASGI.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

FRAMES = "gamify.websocket.frames"  # the scope["extensions"] key
# FrameWriter reads uvicorn's protocol state (handshake_complete, close_sent, disconnected,
# writable, transport): checked against this version; on another one no writer is lent and
# every frame goes through ASGI.
CHECKED_UVICORN_VERSION = "0.54.0"


def lends_frame_writers() -> bool:
    return uvicorn.__version__ == CHECKED_UVICORN_VERSION


def text_frame(*parts: bytes) -> bytes:
    """A server's (unmasked) single-frame text message of `parts` joined (RFC 6455 5.2)."""
    n = sum(len(p) for p in parts)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return b"".join((header, *parts))


class FrameWriter:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def write(self, frame: bytes) -> bool:
        """Write a whole frame now if the socket takes it; False if it does not (closing, or
        paused by flow control), and nothing was written."""
        p = self._protocol
        if (
            not p.handshake_complete
            or p.close_sent
            or p.disconnected
            or not p.writable.is_set()
            or p.transport.is_closing()
        ):
            return False
        p.transport.write(frame)
        return True


class FrameWritingProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol plus a FrameWriter in scope["extensions"]."""

    async def run_asgi(self) -> None:
        if lends_frame_writers():
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[FRAMES] = FrameWriter(self)
        await super().run_asgi()
