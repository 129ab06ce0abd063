"""1,000 events for one member from two OS processes at once, under a daily cap: the cap
holds exactly and each event awards at most once, re-sends included (PostgreSQL: two
processes writing one SQLite file are out of scope, as in tests/models/test_multiprocess.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from models.members.tables import Member
from models.points.tables import LedgerEntry, PointAccount
from models.programme.tables import EarningRule, MemberEvent, RuleAward, RuleCapCounter
from tests.dbsetup import is_postgres
from tests.factories import make_member, make_tenant
from tests.models.test_multiprocess import balance_mismatches, race_processes
from tests.programme.rules import make_rule

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="multi-process writers are required on PostgreSQL only"
)
EVENTS = 1000
RESENT = 200
POINTS, CAP = 7, 1000  # 142 awards in full (994), one of 6, then nothing


async def test_a_daily_cap_holds_exactly_under_1000_events_from_two_processes(
    db: str, tmp_path: Path
) -> None:
    # given a member and a rule of 7 points a review, at most 1,000 points a day
    tenant_id, member, rule = await _capped_reviews()

    def review(n: int) -> dict[str, Any]:
        return {"kind": "track", "tenant": str(tenant_id), **_review(member, n)}

    # when two processes send 1,000 reviews between them at once, and each also re-sends
    # 100 of the other's (the same key and content: a retry racing its original)
    shares: list[list[dict[str, Any]]] = [
        [review(n) for n in range(0, EVENTS, 2)] + [review(n) for n in range(1, RESENT, 2)],
        [review(n) for n in range(1, EVENTS, 2)] + [review(n) for n in range(0, RESENT, 2)],
    ]
    total = await race_processes(db, tmp_path, shares)
    # then every call succeeded
    assert total == {"track:ok": EVENTS + RESENT}, total
    # and exactly the cap was awarded: 142 awards of 7 and one of 6, once per event
    assert await MemberEvent.filter(member_id=member.id).count() == EVENTS
    awards = await RuleAward.filter(rule_id=rule.id)
    assert len(awards) == EVENTS and len({a.event_id for a in awards}) == EVENTS
    given = sorted((a.points for a in awards if a.points > 0), reverse=True)
    assert given == [POINTS] * (CAP // POINTS) + [CAP % POINTS]
    assert sum(a.points for a in awards) == CAP
    counter = await RuleCapCounter.get(rule_id=rule.id)
    assert counter.used == CAP
    entries = await LedgerEntry.filter(account__member_id=member.id)
    assert len(entries) == len(given) and sum(e.amount for e in entries) == CAP
    assert (await PointAccount.get(member_id=member.id)).balance == CAP
    assert await balance_mismatches() == []


async def test_the_cap_holds_when_two_processes_send_batches_at_once(
    db: str, tmp_path: Path
) -> None:
    # given a member and a rule of 7 points a review, at most 1,000 points a day
    tenant_id, member, rule = await _capped_reviews()

    def batches(numbers: list[int], size: int) -> list[dict[str, Any]]:
        return [
            {
                "kind": "track_batch",
                "tenant": str(tenant_id),
                "events": [_review(member, n) for n in numbers[i : i + size]],
            }
            for i in range(0, len(numbers), size)
        ]

    # when two processes each send their 500 reviews as batches of 100, all at once, and
    # re-send 100 of the other's in batches of 25 (retries racing their originals)
    shares = [
        batches(list(range(0, EVENTS, 2)), 100) + batches(list(range(1, RESENT, 2)), 25),
        batches(list(range(1, EVENTS, 2)), 100) + batches(list(range(0, RESENT, 2)), 25),
    ]
    total = await race_processes(db, tmp_path, shares)
    # then every batch succeeded
    assert total == {"track_batch:ok": 2 * (5 + 4)}, total
    # and exactly the cap was awarded, once per event, as one event at a time would
    assert await MemberEvent.filter(member_id=member.id).count() == EVENTS
    awards = await RuleAward.filter(rule_id=rule.id)
    assert len(awards) == EVENTS and len({a.event_id for a in awards}) == EVENTS
    given = sorted((a.points for a in awards if a.points > 0), reverse=True)
    assert given == [POINTS] * (CAP // POINTS) + [CAP % POINTS]
    assert (await RuleCapCounter.get(rule_id=rule.id)).used == CAP
    entries = await LedgerEntry.filter(account__member_id=member.id)
    assert len(entries) == len(given) and sum(e.amount for e in entries) == CAP
    assert (await PointAccount.get(member_id=member.id)).balance == CAP
    assert await balance_mismatches() == []


async def _capped_reviews() -> tuple[UUID, Member, EarningRule]:
    """A tenant, a member and a rule of 7 points a review, at most 1,000 points a day."""
    t = await make_tenant()
    member = await make_member(t.tenant.id)
    rule = await make_rule(t.tenant.id, event_type="review", points=POINTS, cap_member_day=CAP)
    return t.tenant.id, member, rule


def _review(member: Member, n: int) -> dict[str, Any]:
    """Review n of the member, as the API takes it."""
    return {
        "external": member.external_user_id,
        "type": "review",
        "key": f"review-{n}",
        "properties": {"stars": n % 5 + 1},
    }
