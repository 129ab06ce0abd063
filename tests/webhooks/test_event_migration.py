"""Migration 0016 moves stored subscriptions and deliveries from `reward_redeemed` to
`redemption.created` (run on a database of its own, in its own process)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.dbsetup import create_database, drop_database


async def test_stored_subscriptions_and_deliveries_are_renamed(tmp_path: Path) -> None:
    url = await create_database(tmp_path)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.webhooks.migrate_renames",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=Path(__file__).parents[2],
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        await drop_database(url)
    assert process.returncode == 0, err.decode()
    assert json.loads(out) == {
        "events": ["redemption.created", "redemption.status_changed"],
        "delivery_event": "redemption.created",
        "days": 7,
    }
