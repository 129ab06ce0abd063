#!/usr/bin/env python
"""`gamify serve --no-worker` with one part of shared live updates switched off, for
`bench/subscriptions.py --whatif V`: what that part buys, measured in the same run.

Not the engine and not for production: each variant is a monkeypatch.

  unshared  no subscription joins a group (engine/live_groups.py): each runs its own
            execution per event through Strawberry and sends its own `next`, as the engine
            did before groups (only the update object stays built once per message).
  asgi      groups as usual, but served with uvicorn's stock WebSocket protocol instead of
            engine.websocket.FrameWritingProtocol: no frame writer, so each member's frame
            goes through its own task and an ASGI send (the path any other ASGI server gets).

(Until groups existed this file estimated them: memoising the update object, sharing the
execution, encoding once, and broadcasting one frame per group; see bench/README.md.)

Usage: python bench/subscriptions_whatif.py VARIANT   (env as for `gamify serve`)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("unshared", "asgi")


def patch_unshared() -> None:
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
    )

    from engine.graphql import SharingTransportWSHandler

    # Strawberry's own: the operation's task carries no offer to share.
    SharingTransportWSHandler.run_operation = BaseGraphQLTransportWSHandler.run_operation  # type: ignore[method-assign]


def patch_asgi() -> None:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    from engine import runtime

    runtime.FrameWritingProtocol = WebSocketsSansIOProtocol  # type: ignore[misc]


def main() -> int:
    variant = sys.argv[1] if len(sys.argv) > 1 else ""
    if variant not in VARIANTS:
        print(f"usage: {sys.argv[0]} {{{','.join(VARIANTS)}}}", file=sys.stderr)
        return 2
    {"unshared": patch_unshared, "asgi": patch_asgi}[variant]()
    print(f"bench-whatif: {variant}", file=sys.stderr)
    from engine import cli

    return cli.main(["serve", "--no-worker"])


if __name__ == "__main__":
    sys.exit(main())
