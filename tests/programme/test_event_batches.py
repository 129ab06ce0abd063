"""A batch of events applied in chunks (models.programme.event_batches, POST /api/v1/events)
ends with the same ledger as the same events tracked one by one (`track_event`): the same
outcome per event, balances, pending points, entries, grants, awards, takebacks, cap
counters and tiers. Two identical tenants get the same generated history, one each way."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from core import clock
from core.errors import DomainError
from models.members.tables import Member, Tier
from models.members.upserts import save_point_definition, upsert_member
from models.pointmaster.modes import set_point_mode
from models.pointmaster.settings import rotate_key, save_settings
from models.pointmaster.tables import ForwardedAdjustment
from models.points.awards import AwardRequest, award_points
from models.points.tables import ExpiryPolicy, LedgerEntry, LedgerSource, PointAccount, PointGrant
from models.programme import event_batches
from models.programme.event_batches import track_events
from models.programme.events import EventInput, Tracked, track_event
from models.programme.tables import AwardKind, EarningRule, MemberEvent, RuleAward, RuleCapCounter
from models.tenancy.tables import PointMode
from models.tiers.policy import PolicyFields, save_tier_policy
from models.tiers.tables import TierBasis, TierChange
from tests.factories import default_definition, make_tenant
from tests.models.test_multiprocess import balance_mismatches
from tests.programme.rules import make_rule

pytestmark = pytest.mark.usefixtures("db")

T0 = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
MEMBERS = 10
Outcome = tuple[Any, ...]


async def _programme() -> UUID:
    """Rules with every kind of limit, a second currency, an expiry policy and tiers."""
    tenant_id = (await make_tenant()).tenant.id
    points = await default_definition(tenant_id)
    await save_point_definition(
        tenant_id, points.id, points.name, expiry=(ExpiryPolicy.AFTER_MONTHS, 12)
    )
    tokens = await save_point_definition(tenant_id, None, "Tokens")
    await make_rule(
        tenant_id,
        name="Per 10 EUR",
        award_kind=AwardKind.PER_UNIT,
        points=1,
        unit_amount=Decimal(10),
        cap_member_day=60,
        cap_member_month=150,
        conditions={"all": [{"property": "currency", "op": "eq", "value": "EUR"}]},
    )
    await make_rule(
        tenant_id,
        name="Big basket",
        points=25,
        cap_total=200,
        pending_days=3,
        validity_days=30,
        conditions={"all": [{"property": "amount", "op": "gte", "value": 200}]},
    )
    await make_rule(
        tenant_id,
        name="Review",
        event_type="review",
        points=20,
        pending_days=7,
        validity_days=365,
        cap_member_day=40,
    )
    await make_rule(
        tenant_id, name="Referral", event_type="referral", points=100, definition_id=tokens.id
    )
    await Tier.create(tenant_id=tenant_id, name="Silver", rank=1, min_value=60)
    await Tier.create(tenant_id=tenant_id, name="Gold", rank=2, min_value=140)
    await save_tier_policy(
        tenant_id,
        PolicyFields(
            enabled=True,
            basis=TierBasis.POINTS_EARNED,
            definition_id=None,
            window_months=12,
            review_months=12,
            grace_days=0,
        ),
    )
    for n in range(MEMBERS):
        await upsert_member(tenant_id, f"m-{n}")
    return tenant_id


def _history(seed: int, count: int, start: int) -> list[EventInput]:
    """Purchases, returns (whole, partial, twice, of unknown orders), reviews, referrals,
    re-sent events, reused keys, reused orders and unknown members, over three days."""
    rng = random.Random(seed)
    events: list[EventInput] = []
    bought: list[tuple[str, str, float]] = []
    for i in range(start, start + count):
        member = f"m-{rng.randrange(MEMBERS)}"
        at = T0 - timedelta(days=2) + timedelta(minutes=17 * i)
        roll, key = rng.random(), f"k-{i}"
        if roll < 0.5 or not bought:
            amount = round(rng.uniform(5, 400), 2)
            order = f"o-{i}"
            bought.append((member, order, amount))
            currency = "EUR" if rng.random() < 0.9 else "USD"
            props: dict[str, Any] = {"amount": amount, "currency": currency, "orderId": order}
            events.append(EventInput(member, "purchase", key, props, at))
        elif roll < 0.65:
            member, order, amount = rng.choice(bought)
            props = {"orderId": order}
            if rng.random() < 0.5:
                props["amount"] = round(amount * rng.uniform(0.1, 0.9), 2)
            events.append(EventInput(member, "return", key, props, at))
        elif roll < 0.68:
            events.append(EventInput(member, "return", key, {"orderId": "nowhere"}, at))
        elif roll < 0.82:
            events.append(EventInput(member, "review", key, {"stars": rng.randint(1, 5)}, at))
        elif roll < 0.88:
            events.append(EventInput(member, "referral", key, {"friend": f"f-{i}"}, at))
        elif roll < 0.93:
            events.append(rng.choice(events))  # re-sent as it was: a replay
        elif roll < 0.95:
            earlier = rng.choice(events)  # the same key for another event: a conflict
            events.append(
                EventInput(
                    earlier.external_user_id, "review", earlier.idempotency_key, {"stars": 9}, at
                )
            )
        elif roll < 0.98 and bought:
            member, order, amount = rng.choice(bought)  # the same order with a new key
            props = {"amount": amount, "currency": "EUR", "orderId": order}
            events.append(EventInput(member, "purchase", key, props, at))
        else:
            events.append(EventInput("ghost", "review", key, {}, at))
    return events


def _outcome(result: Tracked | DomainError, rules: dict[UUID, str]) -> Outcome:
    if isinstance(result, DomainError):
        return ("rejected", result.code, result.field)
    awards = sorted((rules[a.rule_id], a.points, a.requested, a.note) for a in result.awards)
    return ("replayed" if result.replayed else "accepted", result.event.idempotency_key, awards)


async def _one_by_one(tenant_id: UUID, events: list[EventInput]) -> list[Tracked | DomainError]:
    results: list[Tracked | DomainError] = []
    for event in events:
        try:
            results.append(await track_event(tenant_id, event, "test"))
        except DomainError as exc:
            results.append(exc)
    return results


async def _state(tenant_id: UUID) -> dict[str, Any]:
    """Everything the events wrote, with the tenant's ids replaced by names."""
    rules = {r.id: r.name for r in await EarningRule.filter(tenant_id=tenant_id)}
    members = {m.id: m.external_user_id for m in await Member.filter(tenant_id=tenant_id)}
    accounts = {
        a.id: (members[a.member_id], a.definition.name)
        for a in await PointAccount.filter(tenant_id=tenant_id).prefetch_related("definition")
    }
    balances = {
        accounts[a.id]: (a.balance, a.pending)
        for a in await PointAccount.filter(tenant_id=tenant_id)
    }
    entries = sorted(
        (accounts[e.account_id], e.seq, e.amount, e.balance_after, e.source, e.valid_to)
        for e in await LedgerEntry.filter(tenant_id=tenant_id)
    )
    stored_grants = await PointGrant.filter(tenant_id=tenant_id)
    grants = sorted(
        (accounts[g.account_id], g.amount, g.status, g.source, g.valid_from, g.valid_to, g.due_at)
        for g in stored_grants
    )
    # What is left of the expiring points, per account and expiry: under the frozen clock
    # the lots of one expiry were made at the same time, and a debit may spend either.
    unspent: dict[tuple[Any, ...], int] = {}
    for g in stored_grants:
        key = (accounts[g.account_id], g.valid_to)
        unspent[key] = unspent.get(key, 0) + g.remaining
    events = {e.id: e.idempotency_key for e in await MemberEvent.filter(tenant_id=tenant_id)}
    awards = sorted(
        (
            events[a.event_id],
            rules[a.rule_id],
            a.points,
            a.requested,
            a.taken_back,
            a.note,
            a.ledger_entry_id is not None,
            a.grant_id is not None,
            a.reverses_id is not None,
        )
        for a in await RuleAward.filter(tenant_id=tenant_id)
    )
    counters = sorted(
        (rules[c.rule_id], _named(c.scope, members), c.used)
        for c in await RuleCapCounter.filter(rule__tenant_id=tenant_id)
    )
    tiers = {
        m.external_user_id: m.tier.name if m.tier else None
        for m in await Member.filter(tenant_id=tenant_id).prefetch_related("tier")
    }
    reached = sorted(
        (members[c.member_id], c.to_name)
        for c in await TierChange.filter(tenant_id=tenant_id)
        if c.to_name == tiers[members[c.member_id]]
    )
    return {
        "balances": balances,
        "entries": entries,
        "grants": grants,
        "unspent": unspent,
        "awards": awards,
        "counters": counters,
        "tiers": tiers,
        "reached": reached,
        "rules": rules,
    }


def _named(scope: str, members: dict[UUID, str]) -> str:
    for member_id, external in members.items():
        scope = scope.replace(str(member_id), external)
    return scope


async def _spend(tenant_id: UUID) -> None:
    """Members spend most of their balance (a return then finds less than it takes back)."""
    for account in await PointAccount.filter(tenant_id=tenant_id, balance__gt=10):
        await award_points(
            AwardRequest(
                tenant_id=tenant_id,
                member_id=account.member_id,
                definition_id=account.definition_id,
                amount=-(account.balance - 3),
                source=LedgerSource.MANUAL,
            )
        )


@pytest.mark.parametrize("chunk", [1000, 23])
async def test_a_batch_ends_with_the_ledger_of_its_events_tracked_one_by_one(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given two tenants with the same programme, and a history of events in two parts
    # with spending in between (later returns find less than they take back)
    monkeypatch.setattr(event_batches, "CHUNK", chunk)
    single, batched = await _programme(), await _programme()
    first, second = _history(15, 260, 0), _history(16, 140, 260)
    second += [e for e in first if e.type == "purchase"][:30:3]  # replays of the first part
    second += [
        EventInput(
            e.external_user_id,
            "return",
            f"r-{e.idempotency_key}",
            {"orderId": e.properties["orderId"]},
            None,
        )
        for e in first
        if e.type == "purchase"
    ][:40]
    with clock.frozen_at(T0):
        # when one tenant's events are tracked one by one, the other's as two batches
        expected = await _one_by_one(single, first)
        got = await track_events(batched, first, "test")
        clock.advance(timedelta(hours=1))
        await _spend(single)
        await _spend(batched)
        clock.advance(timedelta(days=1))  # some pending points are due, others not
        expected += await _one_by_one(single, second)
        got += await track_events(batched, second, "test")

    # then each event had the same outcome
    one, other = await _state(single), await _state(batched)
    assert [_outcome(r, one["rules"]) for r in expected] == [
        _outcome(r, other["rules"]) for r in got
    ]
    statuses = {_outcome(r, one["rules"])[0] for r in expected}
    assert statuses == {"accepted", "replayed", "rejected"}
    # and the ledgers are the same: balances, entries, grants, awards, caps and tiers
    parts = ("balances", "entries", "grants", "unspent", "awards", "counters", "tiers", "reached")
    for part in parts:
        assert one[part] == other[part], part
    assert any(a[2] != a[3] for a in one["awards"] if a[3] < 0)  # a return found too little
    assert any(c[2] == 200 for c in one["counters"])  # the total cap was reached
    assert set(one["tiers"].values()) >= {"Silver", "Gold"}
    assert await balance_mismatches() == []


@pytest.mark.parametrize("mode", [PointMode.FOLLOWER_TRANSACTIONS, PointMode.FOLLOWER_BALANCE])
async def test_a_follower_tenants_batch_forwards_each_award_to_the_master(mode: PointMode) -> None:
    # given a follower tenant with a link to its master, and a rule of 30 points a purchase
    t = await make_tenant()
    await set_point_mode(t.tenant.id, mode, actor="test")
    await save_settings(
        t.tenant.id, "test", allow_private=True, adjustment_url="http://127.0.0.1:9/master"
    )
    await rotate_key(t.tenant.id, "test")
    await upsert_member(t.tenant.id, "m-1")
    await make_rule(t.tenant.id, name="Thirty", points=30, cap_member_day=50)
    # when a batch of two purchases and a return of the first is tracked
    results = await track_events(
        t.tenant.id,
        [
            EventInput("m-1", "purchase", "p1", {"amount": 9, "orderId": "o1"}),
            EventInput("m-1", "purchase", "p2", {"amount": 9, "orderId": "o2"}),
            EventInput("m-1", "return", "r1", {"orderId": "o1"}),
        ],
        "test",
    )
    # then nothing was posted here; the master is told +30, +20 (the daily cap) and -30
    assert await LedgerEntry.filter(tenant_id=t.tenant.id).count() == 0
    forwards = await ForwardedAdjustment.filter(tenant_id=t.tenant.id).order_by("created_at")
    assert [f.amount for f in forwards] == [30, 20, -30]
    awards = [a for r in results if isinstance(r, Tracked) for a in r.awards]
    assert [a.forwarded_id for a in awards] == [f.id for f in forwards]
