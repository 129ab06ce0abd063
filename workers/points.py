"""Point jobs: activate pending points, expire points whose validity ended, and tell
webhooks about points that expire soon."""

from __future__ import annotations

from typing import Any

from models.points.announcements import warn_expiring
from models.points.grants import settle_due
from models.tiers.reviews import after_settling


async def settle_points(ctx: dict[str, Any]) -> int:
    """Settle the grants that fell due; returns how many. Their postings tell
    `myBalanceChanged` subscribers after commit (the job is one unit of work).

    One batch per run: the cron runs every minute, and postings settle their own
    account on demand, so a backlog never shows in balances. Points that activated are
    earned: their members' tiers are evaluated (upgrade at once). Then the
    `points.expiring_soon` reminders that fell due.
    """
    settled = await settle_due()
    await after_settling(settled.members)  # activated points are earned: upgrades
    await warn_expiring()  # `points.expiring_soon`, once per grant
    return settled.grants
