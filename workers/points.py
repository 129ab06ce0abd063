"""Point jobs: activate pending points and expire points whose validity ended."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from models.live.messages import announce_members_balances
from models.points.grants import settle_due


async def settle_points(ctx: dict[str, Any]) -> int:
    """Settle the grants that fell due; returns how many. Then (after commit) tell
    `myBalanceChanged` subscribers whose points became active or expired.

    One batch per run: the cron runs every minute, and postings settle their own
    account on demand, so a backlog never shows in balances.
    """
    settled = await settle_due()
    broker = ctx.get("broker")
    if broker is not None:
        by_tenant: dict[UUID, set[UUID]] = defaultdict(set)
        for tenant_id, member_id in settled.members:
            by_tenant[tenant_id].add(member_id)
        for tenant_id, member_ids in by_tenant.items():
            await announce_members_balances(broker, tenant_id, member_ids)
    return settled.grants
