"""The garbage collector's view of a long-running process (`gamify serve`, `gamify worker`).

A started process holds some 150,000 objects that live as long as it does: modules, the
GraphQL schema, the ORM's models. CPython's full (oldest-generation) collection walks every
one of them, and stops the process while it does: 70-95 ms measured on the development
machine, at moments nobody chooses. A live subscription that was being set up then went
live only after a redeem on another process had committed and published, and never heard
of it (tests/live/test_processes.py). Frozen once start-up is done, those objects are left
out of every later collection, which then walks only what the process made since.

What it makes since is mostly a request's objects, and some of them die in reference
cycles (graphql-core's executor holds itself through its helpers), which only a collection
frees. At CPython's default pace (a young collection every 700 new objects) a collection
finds the requests in flight still alive, moves them to older generations, and a full
collection walks them all again later, stopping the process 30-70 ms each time. The
widget's catalog read (bench/catalog.py) spent 5-25% of its CPU in the collector that way,
the more the busier the machine. Collected every 20,000 new objects, most of them are dead
when the collector first looks, and die there: measured in-process, the same read with the
collector off cost 1.09-1.12 ms of CPU, with CPython's pace 1.18-1.30 (1.47-1.96 on a busy
machine), at this pace 1.16-1.22 (1.17-1.26).
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # new objects between two young collections (CPython's default: 700)


def freeze_started_heap() -> None:
    """Collect what start-up left as garbage, then keep the rest out of later collections.

    Only in a process of the engine's own (never inside a test or host process whose
    objects are not all for life): frozen objects are never collected, even when they
    become garbage."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, 50, 100)
