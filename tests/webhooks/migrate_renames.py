"""Run in its own process by test_event_migration.py (one database per process): migrate a
fresh database to 0012, store an endpoint and a delivery under the old event name, migrate
on, and print what is stored then."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate

from core.settings import tortoise_config


async def _run(sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """`sql` with `{}` for each value, as the dialect binds them."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    marks = [f"${i}" if postgres else "?" for i in range(1, len(values) + 1)]
    if not postgres:
        values = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return list(await conn.execute_query_dict(sql.format(*marks), values))


async def main(url: str) -> dict[str, Any]:
    config = tortoise_config(url, pool_size=2)
    await migrate(config=config, target="models.0012_grant_settle_failures")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    tenant, endpoint, delivery = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await _run(
        'INSERT INTO "tenant" ("id", "name", "slug", "point_mode", "created_at") '
        "VALUES ({}, {}, {}, {}, {})",
        [tenant, "T", "t-1", "MASTER", now],
    )
    await _run(
        'INSERT INTO "webhook_endpoint" ("id", "tenant_id", "url", "events", "payload_format", '
        '"enabled", "secret", "created_at", "updated_at") '
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        [endpoint, tenant, "https://8.8.8.8/h",
         json.dumps(["redemption.status_changed", "reward_redeemed"]), "GAMIFY", True, "s", now,
         now],
    )  # fmt: skip
    await _run(
        'INSERT INTO "webhook_delivery" ("id", "tenant_id", "endpoint_id", "event", "payload", '
        '"status", "attempt_count", "created_at") VALUES ({}, {}, {}, {}, {}, {}, {}, {})',
        [delivery, tenant, endpoint, "reward_redeemed", "{}", "DEAD", 7, now],
    )
    await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.init(config=config)
    try:
        (stored,) = await _run('SELECT "events" FROM "webhook_endpoint"', [])
        (event,) = await _run('SELECT "event" FROM "webhook_delivery"', [])
        (days,) = await _run('SELECT "points_expiring_soon_days" AS d FROM "tenant"', [])
    finally:
        await Tortoise.close_connections()
    raw = stored["events"]
    return {
        "events": json.loads(raw) if isinstance(raw, str) else raw,
        "delivery_event": event["event"],
        "days": days["d"],
    }


if __name__ == "__main__":
    try:
        sys.stdout.write(json.dumps(asyncio.run(main(sys.argv[1]))) + "\n")
        sys.stdout.flush()
        code = 0
    except BaseException as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        code = 1
    os._exit(code)
