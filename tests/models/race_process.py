"""One OS process of a two-process race (launched by test_multiprocess.py).

usage: python tests/models/race_process.py DATABASE_URL OPERATIONS_FILE

Connects to the database, prints READY, waits for a line on stdin (the common start
signal), then fires every operation of the JSON file at once and prints one JSON line:
{"outcomes": {"<kind>:ok": n, "<kind>:<code>": n, ...}}.

An operation is an object with `kind` and its arguments (ids as strings):
- redeem: tenant, member, reward, key?
- award: tenant, member, amount, key?           (award_points, as awardPoints)
- adjust: tenant, member, amount, key?          (adjust_points by an API key, as adjustPoints)
- transition: tenant, redemption, target, via   (callbacks and admin confirm/cancel)
- apply_batch: batch                             (the worker's apply_sync_batch)
- settle                                         (the points cron: activation and expiry)
- track: tenant, external, type, key, properties  (track_event, as trackEvent)
- track_batch: tenant, events (each: external, type, key, properties)
                                                 (track_events, as POST /api/v1/events; its
                                                 outcome: ok, or the first refused event's code)
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from uuid import UUID

from tortoise import Tortoise

from core.errors import Conflict, DomainError, Refused
from core.settings import tortoise_config
from models.pointmaster.uploads import apply_batch
from models.points.adjustments import Adjustment, adjust_points
from models.points.awards import AwardRequest, award_points
from models.points.grants import settle_due
from models.points.tables import LedgerSource
from models.programme.event_batches import track_events
from models.programme.events import EventInput, track_event
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import RedemptionStatus

POOL_SIZE = 12  # two of these beside the test process stay well under max_connections
START_TIMEOUT = 30.0
RACE_TIMEOUT = 60.0
ACTOR = "race-process"


def call(op: dict[str, Any]) -> Awaitable[Any]:
    kind = op["kind"]
    if kind == "apply_batch":
        return apply_batch(UUID(op["batch"]))
    if kind == "settle":
        return settle_due()
    tenant = UUID(op["tenant"])
    if kind == "redeem":
        return redeem(
            RedeemRequest(
                tenant,
                UUID(op["member"]),
                UUID(op["reward"]),
                idempotency_key=op.get("key"),
                actor=ACTOR,
            )
        )
    if kind == "award":
        return award_points(
            AwardRequest(
                tenant_id=tenant,
                member_id=UUID(op["member"]),
                definition_id=None,
                amount=op["amount"],
                source=LedgerSource.RETURN if op["amount"] < 0 else LedgerSource.PURCHASE,
                idempotency_key=op.get("key"),
                actor=ACTOR,
            )
        )
    if kind == "adjust":
        return adjust_points(
            Adjustment(
                tenant_id=tenant,
                member_id=UUID(op["member"]),
                definition_id=None,
                amount=op["amount"],
                description=op.get("description", "race"),
                actor=ACTOR,
                automation=True,
                idempotency_key=op.get("key"),
            )
        )
    if kind == "track_batch":
        return _track_batch(tenant, op["events"])
    if kind == "track":
        return track_event(
            tenant,
            EventInput(op["external"], op["type"], op["key"], op.get("properties", {})),
            actor=ACTOR,
        )
    if kind == "transition":
        return transition(
            tenant,
            UUID(op["redemption"]),
            RedemptionStatus(op["target"]),
            Via(op["via"]),
            actor=f"{ACTOR}:{op['via']}",
        )
    raise ValueError(f"unknown operation {kind!r}")


async def _track_batch(tenant: UUID, events: list[dict[str, Any]]) -> None:
    inputs = [
        EventInput(e["external"], e["type"], e["key"], e.get("properties", {})) for e in events
    ]
    for result in await track_events(tenant, inputs, actor=ACTOR):
        if isinstance(result, DomainError):
            raise result


async def outcome(op: dict[str, Any]) -> str:
    try:
        await call(op)
    except (Refused, Conflict) as exc:
        return f"{op['kind']}:{exc.code}"
    except Exception as exc:
        return f"{op['kind']}:{type(exc).__name__}: {exc}"
    return f"{op['kind']}:ok"


async def run(database_url: str, operations: list[dict[str, Any]]) -> None:
    await Tortoise.init(
        config=tortoise_config(database_url, pool_size=POOL_SIZE), _enable_global_fallback=True
    )
    try:
        print("READY", flush=True)
        async with asyncio.timeout(START_TIMEOUT):
            await asyncio.to_thread(sys.stdin.readline)
        async with asyncio.timeout(RACE_TIMEOUT):
            outcomes = await asyncio.gather(*(outcome(op) for op in operations))
    finally:
        await Tortoise.close_connections()
    print(json.dumps({"outcomes": Counter(outcomes)}), flush=True)


def main(argv: list[str]) -> None:
    database_url, operations_file = argv[1:3]
    asyncio.run(run(database_url, json.loads(Path(operations_file).read_text())))


if __name__ == "__main__":
    main(sys.argv)
