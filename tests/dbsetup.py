"""A fresh, migrated database per test run: SQLite file or a new PostgreSQL database.

GAMIFY_TEST_DATABASE_URL selects PostgreSQL (a server URL; a database of our own is
created in it and dropped at the end); without it the suite uses a SQLite file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

PG_URL = os.environ.get("GAMIFY_TEST_DATABASE_URL")
TABLES = [
    "voucher_code",
    "code_pool",
    "rule_award",
    "rule_cap_counter",
    "member_event",
    "earning_rule",
    "tier_change",
    "tier_policy",
    "forwarded_adjustment",
    "points_log_cache",
    "point_master_key",
    "point_master_settings",
    "balance_snapshot",
    "sync_batch",
    "point_mode_change",
    "webhook_attempt",
    "webhook_delivery",
    "webhook_endpoint",
    "redemption_event",
    "redemption_event_counter",
    "redemption",
    "member_reward_usage",
    "reward",
    "point_grant",
    "ledger_entry",
    "point_account",
    "idempotency_key",
    "member",
    "tier",
    "point_definition",
    "api_key",
    "tenant_admin",
    "tenant_origin",
    "tenant",
]


def is_postgres() -> bool:
    return PG_URL is not None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url.replace("postgresql://", "postgres://", 1))
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(tmp_dir: Path) -> str:
    if PG_URL is None:
        return f"sqlite://{tmp_dir / 'test.sqlite3'}"
    name = f"gamify_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _with_database(PG_URL, name)


async def drop_database(url: str) -> None:
    if PG_URL is None:
        return
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(PG_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
