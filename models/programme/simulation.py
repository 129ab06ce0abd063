"""The dry run: what an event would award under each of the tenant's rules, and why not.

It reads rules, the member and the cap counters, and writes nothing: no event, no counter,
no posting (tested). Caps are shown as they stand now; without a member, per-member caps
are not looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core import clock
from core.errors import NotFound
from models.members.tables import MAX_EXTERNAL_ID, Member
from models.programme import caps
from models.programme.earning import evaluate
from models.programme.events import clean_event
from models.programme.tables import EarningRule


@dataclass(frozen=True)
class RuleOutcome:
    rule: EarningRule
    points: int  # what it would award now
    requested: int  # before caps
    reason: str  # why less than requested, or nothing ("" when it awards in full)


async def simulate_event(
    tenant_id: UUID,
    event_type: str,
    properties: Any,
    occurred_at: datetime | None,
    external_user_id: str | None,
) -> list[RuleOutcome]:
    """Every non-archived rule of the tenant for this event type, in creation order."""
    clean = clean_event(event_type, properties, occurred_at, clock.now())
    member_id = None
    if external_user_id is not None:
        member = None
        if 0 < len(external_user_id) <= MAX_EXTERNAL_ID:
            member = await Member.get_or_none(
                tenant_id=tenant_id, external_user_id=external_user_id
            )
        if member is None:
            raise NotFound("Member not found", field="externalUserId")
        member_id = member.id
    rules = await EarningRule.filter(
        tenant_id=tenant_id, event_type=clean.type, archived_at__isnull=True
    ).order_by("created_at", "id")
    outcomes = []
    for rule in rules:
        verdict = evaluate(rule, clean.type, clean.occurred_at, clean.properties)
        if verdict.points <= 0:
            outcomes.append(RuleOutcome(rule, 0, 0, verdict.reason))
            continue
        points, reason = verdict.points, ""
        rule_caps = caps.caps_of(rule, member_id, clean.occurred_at)
        used = await caps.used(rule.id, rule_caps)
        for cap in rule_caps:
            room = max(0, cap.limit - used.get(cap.scope, 0))
            if room < points:
                points, reason = room, f"{cap.label}: {used.get(cap.scope, 0)} of {cap.limit} used"
        if member_id is None and (rule.cap_member_day or rule.cap_member_month):
            reason = (
                reason + "; " if reason else ""
            ) + "no member given: per-member caps not checked"
        outcomes.append(RuleOutcome(rule, points, verdict.points, reason))
    return outcomes
