"""The tier cron: members whose review date came are re-evaluated (downgrades happen only
here), and overrides whose date passed end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from core import clock
from models.db.transactions import atomic
from models.members.tables import Member
from models.tiers.evaluation import active_policy, evaluate
from models.tiers.overrides import end_expired_overrides
from models.tiers.tables import TierPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reviewed:
    reviewed: int
    changed: int
    overrides_ended: int


async def review_due(now: datetime | None = None, limit: int = 500) -> Reviewed:
    """One batch: members of tenants with an enabled policy whose review date is due."""
    now = now or clock.now()
    ended = await end_expired_overrides(now, limit)
    policies = {p.tenant_id: p for p in await TierPolicy.filter(enabled=True)}
    if not policies:
        return Reviewed(0, 0, ended)
    due = (
        await Member.filter(
            tenant_id__in=list(policies), tier_review_at__lte=now, tier_override=False
        )
        .order_by("tier_review_at")
        .limit(limit)
        .values_list("id", "tenant_id")
    )
    changed = 0
    for member_id, tenant_id in due:
        try:
            async with atomic() as conn:
                outcome = await evaluate(conn, policies[tenant_id], member_id, now, review=True)
        except Exception:
            log.exception("reviewing the tier of member %s failed", member_id)
            continue
        changed += outcome.change is not None
    return Reviewed(len(due), changed, ended)


async def after_settling(members: frozenset[tuple[UUID, UUID]]) -> int:
    """After the points cron activated pending points (now earned): upgrade the members
    they take over a threshold. Returns how many changed tier."""
    now = clock.now()
    policies: dict[UUID, TierPolicy | None] = {}
    changed = 0
    for tenant_id, member_id in sorted(members):
        if tenant_id not in policies:
            policies[tenant_id] = await active_policy(tenant_id)
        policy = policies[tenant_id]
        if policy is None:
            continue
        async with atomic() as conn:
            outcome = await evaluate(conn, policy, member_id, now, review=False)
        changed += outcome.change is not None
    return changed
