"""Tracking a member event: stored once per idempotency key, then every active earning
rule for its type awards what it earns (within its caps), and a `return` takes back what
its order earned.

One transaction per event: the event row (unique per tenant and key, and a purchase's
order unique per tenant), the cap claims (models.programme.caps, before any account is
locked), the postings and the RuleAward rows. A re-sent event finds its row and answers
with what it awarded then; the same key for another event is IDEMPOTENCY_CONFLICT.

Awards go through the ledger's own functions: `award_points` where the engine owns the
currency (pending for the rule's `pending_days`, expiring after `validity_days`), and
`adjust_points` where a point master does (a follower mode): it is forwarded as an
Automation adjustment naming the rule (WorkflowId/WorkflowName) and the event (ProcessId).
Every posting's description names the rule and the event.

A return takes back, per award its order earned, what is not taken back yet (all of it,
or the returned share of the purchase's `amount`): first from points still pending, then
from the balance, never below 0. What it asked counts as taken back, so a second return
of the same order takes nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core import clock
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from models.db.bulk_statements import insert_rows
from models.db.codes import DbCode
from models.db.field_limits import check_json_size
from models.db.guarded_updates import guarded_add
from models.db.idempotency import request_fingerprint, validate_key
from models.db.transactions import atomic
from models.members.tables import MAX_EXTERNAL_ID, Member
from models.pointmaster.modes import FOLLOWER_MODES, definition_mode
from models.points.adjustments import Adjustment, adjust_points
from models.points.awards import AwardRequest, award_points
from models.points.codes import PointsCode
from models.points.ledger import ensure_account, lock_account
from models.points.tables import (
    GrantStatus,
    LedgerSource,
    PointAccount,
    PointDefinition,
    PointGrant,
)
from models.programme import caps
from models.programme.codes import ProgrammeCode
from models.programme.conditions import as_number
from models.programme.earning import evaluate
from models.programme.rules import check_event_type
from models.programme.tables import EarningRule, MemberEvent, RuleAward

MAX_PROPERTIES_BYTES = 16_384
MAX_FUTURE = timedelta(minutes=5)  # clock skew allowed for occurredAt


@dataclass(frozen=True)
class EventInput:
    external_user_id: str
    type: str
    idempotency_key: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Tracked:
    event: MemberEvent
    awards: list[RuleAward]
    replayed: bool  # the key was seen before: nothing new happened

    @property
    def points(self) -> int:
        return sum(a.points for a in self.awards)


@dataclass(frozen=True)
class CleanEvent:
    type: str
    occurred_at: datetime
    properties: dict[str, Any]
    order_id: str | None


def clean_event(
    type_: str, properties: Any, occurred_at: datetime | None, now: datetime
) -> CleanEvent:
    """The event as stored; InvalidInput naming the field for what a type requires."""
    kind = check_event_type(type_)
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise InvalidInput("properties is a JSON object", field="properties")
    check_json_size(properties, MAX_PROPERTIES_BYTES, "properties")
    when = occurred_at or now
    if when > now + MAX_FUTURE:
        raise InvalidInput("occurredAt is in the future", field="occurredAt")
    order = properties.get("orderId")
    if kind in ("purchase", "return"):
        if (
            not isinstance(order, str | int)
            or isinstance(order, bool)
            or not 1 <= len(str(order).strip()) <= 200
        ):
            raise InvalidInput(
                f"A {kind} needs properties.orderId (1-200 characters)",
                field="properties.orderId",
                code=ErrorCode.REQUIRED,
            )
        order = str(order).strip()
    else:
        order = None
    amount = properties.get("amount")
    if kind == "purchase" or (kind == "return" and amount is not None):
        number = as_number(amount)
        if number is None or number < 0 or number >= Decimal("1e14"):
            raise InvalidInput(
                f"A {kind} needs properties.amount: a number from 0, below 10^14",
                field="properties.amount",
                code=ErrorCode.REQUIRED if amount is None else ErrorCode.INVALID,
            )
    currency = properties.get("currency")
    if currency is not None and (not isinstance(currency, str) or not 1 <= len(currency) <= 10):
        raise InvalidInput("properties.currency is a currency code", field="properties.currency")
    return CleanEvent(kind, when, properties, order)


def event_fingerprint(inp: EventInput, clean: CleanEvent) -> str:
    return request_fingerprint(
        inp.external_user_id,
        clean.type,
        # Left out, it is the time of arrival: a retry without it is the same request.
        inp.occurred_at.isoformat() if inp.occurred_at else None,
        json.dumps(clean.properties, sort_keys=True, separators=(",", ":")),
    )


class RuleBook:
    """The tenant's rules and currencies' modes, read once for a batch of events; with
    `prefetch`, also the batch's members and which of its keys were seen before (a key not
    seen then that another request stores meanwhile is caught by the unique index)."""

    def __init__(self, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self._rules: dict[str, list[EarningRule]] = {}
        self._definitions: dict[UUID, tuple[PointDefinition, bool]] = {}
        self._members: dict[str, Member] = {}
        self._seen: set[str] | None = None  # None: not prefetched, ask the database

    async def prefetch(self, external_ids: set[str], keys: set[str]) -> None:
        wanted = [e for e in external_ids if 0 < len(e) <= MAX_EXTERNAL_ID]
        for member in await Member.filter(tenant_id=self.tenant_id, external_user_id__in=wanted):
            self._members[member.external_user_id] = member
        seen = await MemberEvent.filter(
            tenant_id=self.tenant_id,
            idempotency_key__in=[k.strip() for k in keys if 0 < len(k.strip()) <= 200],
        ).values_list("idempotency_key", flat=True)
        self._seen = {str(k) for k in seen}

    def may_be_seen(self, key: str) -> bool:
        return self._seen is None or key in self._seen

    def stored(self, key: str) -> None:
        if self._seen is not None:
            self._seen.add(key)

    async def member(self, external_user_id: str) -> Member:
        if external_user_id not in self._members:
            self._members[external_user_id] = await _member(self.tenant_id, external_user_id)
        return self._members[external_user_id]

    async def rules_for(self, event_type: str) -> list[EarningRule]:
        if event_type not in self._rules:
            self._rules[event_type] = await EarningRule.filter(
                tenant_id=self.tenant_id,
                event_type=event_type,
                active=True,
                archived_at__isnull=True,
            ).order_by("id")
        return self._rules[event_type]

    async def definition(self, definition_id: UUID) -> tuple[PointDefinition, bool]:
        """The currency, and whether a point master owns it."""
        if definition_id not in self._definitions:
            definition = await PointDefinition.get(id=definition_id)
            follower = await definition_mode(definition) in FOLLOWER_MODES
            self._definitions[definition_id] = (definition, follower)
        return self._definitions[definition_id]


async def track_event(
    tenant_id: UUID, inp: EventInput, actor: str, book: RuleBook | None = None
) -> Tracked:
    now = clock.now()
    key = validate_key(inp.idempotency_key)
    if key is None:
        raise InvalidInput("Required", field="idempotencyKey", code=ErrorCode.REQUIRED)
    clean = clean_event(inp.type, inp.properties, inp.occurred_at, now)
    fingerprint = event_fingerprint(inp, clean)
    book = book or RuleBook(tenant_id)
    if book.may_be_seen(key):
        earlier = await replayed_event(tenant_id, key, fingerprint)
        if earlier is not None:
            return earlier
    member = await book.member(inp.external_user_id)
    event = MemberEvent(**event_values(tenant_id, member, clean, key, fingerprint, actor, now))
    try:
        async with atomic() as conn:
            await event.save(using_db=conn, force_create=True)
            awards = await _earn(conn, book, member, event, now)
            if clean.type == "return":
                awards += await _take_back(conn, book, member, event, now)
            await insert_rows(conn, RuleAward, [award_row(a) for a in awards])
        book.stored(key)
    except IntegrityError:
        book.stored(key)
        earlier = await replayed_event(tenant_id, key, fingerprint)
        if earlier is not None:
            return earlier
        if clean.type == "purchase":
            raise duplicate_order(clean.order_id) from None
        raise
    return Tracked(event, awards, replayed=False)


def event_values(
    tenant_id: UUID,
    member: Member,
    clean: CleanEvent,
    key: str,
    fingerprint: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """A new event's columns."""
    return {
        "id": uuid4(),
        "tenant_id": tenant_id,
        "member_id": member.id,
        "type": clean.type,
        "occurred_at": clean.occurred_at,
        "received_at": now,
        "properties": clean.properties,
        "idempotency_key": key,
        "request_hash": fingerprint,
        "order_id": clean.order_id,
        "purchase_order": clean.order_id if clean.type == "purchase" else None,
        "actor": actor,
    }


def duplicate_order(order_id: str | None) -> Refused:
    return Refused(
        f"Order {order_id} was already tracked as a purchase (with another key)",
        field="properties.orderId",
        code=ProgrammeCode.DUPLICATE_ORDER,
    )


async def replayed_event(tenant_id: UUID, key: str, fingerprint: str) -> Tracked | None:
    event = await MemberEvent.get_or_none(tenant_id=tenant_id, idempotency_key=key)
    if event is None:
        return None
    check_replay(event, fingerprint)
    awards = await RuleAward.filter(event_id=event.id).order_by("created_at", "id")
    return Tracked(event, awards, replayed=True)


def check_replay(event: MemberEvent, fingerprint: str) -> None:
    """A stored event's key sent again: IDEMPOTENCY_CONFLICT unless for the same event."""
    if event.request_hash != fingerprint:
        raise Conflict(
            "This idempotency key was used for a different event",
            field="idempotencyKey",
            code=DbCode.IDEMPOTENCY_CONFLICT,
        )


async def _member(tenant_id: UUID, external_user_id: str) -> Member:
    member = None
    if isinstance(external_user_id, str) and 0 < len(external_user_id) <= MAX_EXTERNAL_ID:
        member = await Member.get_or_none(tenant_id=tenant_id, external_user_id=external_user_id)
    if member is None:
        raise NotFound("Member not found: upsertMember first", field="externalUserId")
    return member


def describe(rule: EarningRule, event: MemberEvent) -> str:
    return f"Earning rule '{rule.name}' ({rule.id}): {event.type} event {event.idempotency_key} ({event.id})"


async def _earn(
    conn: BaseDBAsyncClient, book: RuleBook, member: Member, event: MemberEvent, now: datetime
) -> list[RuleAward]:
    # Phase 1, in rule order: what each rule earns within its caps (counters before accounts).
    earned: list[tuple[EarningRule, int, int, str, list[caps.Cap]]] = []
    for rule in await book.rules_for(event.type):
        verdict = evaluate(rule, event.type, event.occurred_at, event.properties)
        if verdict.points <= 0:
            continue
        rule_caps = caps.caps_of(rule, member.id, event.occurred_at)
        granted, bound = await caps.claim(conn, rule.id, rule_caps, verdict.points)
        note = f"{bound}: {granted} of {verdict.points}" if bound else ""
        earned.append((rule, verdict.points, granted, note, rule_caps))
    # Phase 2, by currency: accounts are locked in one order.
    awards = []
    for rule, requested, granted, note, rule_caps in sorted(
        earned, key=lambda e: (str(e[0].point_definition_id), str(e[0].id))
    ):
        award = new_award(rule, event, member, requested, now, note)
        if granted > 0:
            try:
                await _post(book, rule, event, member, award, granted, now)
            except Refused as exc:
                if exc.code != PointsCode.BALANCE_LIMIT:
                    raise
                await caps.give_back(conn, rule.id, rule_caps, granted)
                award.note = f"not awarded: {exc.message}"
        awards.append(award)
    return awards


def new_award(
    rule: EarningRule, event: MemberEvent, member: Member, requested: int, now: datetime, note: str
) -> RuleAward:
    return RuleAward(**award_values(rule, event, member, requested, now, note))


def award_values(
    rule: EarningRule, event: MemberEvent, member: Member, requested: int, now: datetime, note: str
) -> dict[str, Any]:
    """A new award's columns: nothing awarded yet (`points` is set once it is posted)."""
    return {
        "id": uuid4(),
        "tenant_id": event.tenant_id,
        "rule_id": rule.id,
        "event_id": event.id,
        "member_id": member.id,
        "point_definition_id": rule.point_definition_id,
        "points": 0,
        "requested": requested,
        "taken_back": 0,
        "reverses_id": None,
        "ledger_entry_id": None,
        "grant_id": None,
        "forwarded_id": None,
        "note": note,
        "created_at": now,
    }


async def _post(
    book: RuleBook,
    rule: EarningRule,
    event: MemberEvent,
    member: Member,
    award: RuleAward,
    points: int,
    now: datetime,
) -> None:
    definition, follower = await book.definition(rule.point_definition_id)
    if follower:
        award.forwarded_id = await _forward(rule, event, member, definition, points)
        award.points = points
        return
    valid_from = now + timedelta(days=rule.pending_days) if rule.pending_days else None
    start = valid_from or now
    posted = await award_points(
        AwardRequest(
            tenant_id=event.tenant_id,
            member_id=member.id,
            definition_id=definition.id,
            amount=points,
            source=LedgerSource.PURCHASE if event.type == "purchase" else LedgerSource.BONUS,
            description=describe(rule, event),
            valid_from=valid_from,
            valid_to=start + timedelta(days=rule.validity_days) if rule.validity_days else None,
            actor=f"rule:{rule.id}",
        ),
        (member, definition),
    )
    award.points = points
    award.ledger_entry_id = posted.entry.id if posted.entry else None
    award.grant_id = posted.grant.id if posted.grant else None


async def _forward(
    rule: EarningRule, event: MemberEvent, member: Member, definition: PointDefinition, amount: int
) -> UUID:
    done = await adjust_points(
        Adjustment(
            tenant_id=event.tenant_id,
            member_id=member.id,
            definition_id=definition.id,
            amount=amount,
            description=describe(rule, event)[:500],
            actor=f"rule:{rule.id}",
            automation=True,
            reason=f"{event.type} event {event.idempotency_key}"[:500],
            process_id=str(event.id),
            workflow_id=str(rule.id),
            workflow_name=rule.name,
        )
    )
    assert done.forwarded is not None  # a follower mode forwards
    return done.forwarded.id


async def _take_back(
    conn: BaseDBAsyncClient, book: RuleBook, member: Member, event: MemberEvent, now: datetime
) -> list[RuleAward]:
    purchases = await MemberEvent.filter(
        tenant_id=event.tenant_id, member_id=member.id, purchase_order=event.order_id
    ).using_db(conn)
    if not purchases:
        return []
    purchase = purchases[0]
    earned = (
        await RuleAward.filter(event_id=purchase.id, points__gt=0)
        .using_db(conn)
        .order_by("point_definition_id", "id")
    )
    share = returned_share(purchase, event)
    reversals = []
    for original in earned:
        want = (
            int(original.points)
            if share is None
            else int((original.points * share).quantize(Decimal(1), ROUND_HALF_UP))
        )
        take = await _claim_take_back(conn, original, want)
        if take <= 0:
            continue
        rule = await EarningRule.filter(id=original.rule_id).using_db(conn).get()
        reversal = new_award(rule, event, member, -take, now, "")
        reversal.reverses_id = original.id
        definition, follower = await book.definition(original.point_definition_id)
        if follower:
            reversal.forwarded_id = await _forward(rule, event, member, definition, -take)
            reversal.points = -take
        else:
            await _deduct(conn, rule, event, member, definition, original, reversal, take)
        reversals.append(reversal)
    return reversals


def returned_share(purchase: MemberEvent, event: MemberEvent) -> Decimal | None:
    """The share of the purchase returned (None: all of it)."""
    returned = as_number(event.properties.get("amount"))
    bought = as_number(purchase.properties.get("amount"))
    if returned is None or bought is None or bought <= 0 or returned >= bought:
        return None
    return returned / bought


async def _claim_take_back(conn: BaseDBAsyncClient, award: RuleAward, want: int) -> int:
    """Count `want` (at most what is left) as taken back; optimistic on `taken_back`, which
    concurrent returns of the same order move too."""
    for _ in range(20):
        rows = await RuleAward.filter(id=award.id).using_db(conn).values_list("taken_back")
        current = int(rows[0][0])
        left = int(award.points) - current
        take = min(want, left)
        if take <= 0:
            return 0
        moved = (
            await RuleAward.filter(id=award.id, taken_back=current)
            .using_db(conn)
            .update(taken_back=current + take)
        )
        if moved:
            return take
    raise Conflict(
        "The order's points are being taken back concurrently: retry",
        code=ErrorCode.CONCURRENT_UPDATE,
    )


async def _deduct(
    conn: BaseDBAsyncClient,
    rule: EarningRule,
    event: MemberEvent,
    member: Member,
    definition: PointDefinition,
    original: RuleAward,
    reversal: RuleAward,
    take: int,
) -> None:
    """Pending points of the original award first, then the balance, never below 0."""
    await ensure_account(event.tenant_id, member.id, definition.id)
    account = await lock_account(conn, member.id, definition.id)
    assert account is not None
    left = take
    if original.grant_id is not None:
        grant = (
            await PointGrant.filter(id=original.grant_id, status=GrantStatus.PENDING)
            .using_db(conn)
            .first()
        )
        if grant is not None and (grant.valid_from is None or grant.valid_from > clock.now()):
            cut = min(left, int(grant.amount))
            status = GrantStatus.EXPIRED if cut == grant.amount else GrantStatus.PENDING
            changed = (
                await PointGrant.filter(
                    id=grant.id, status=GrantStatus.PENDING, amount=grant.amount
                )
                .using_db(conn)
                .update(
                    amount=grant.amount - cut,
                    status=status,
                    due_at=None if status == GrantStatus.EXPIRED else grant.due_at,
                )
            )
            if (
                changed
                and await guarded_add(conn, PointAccount, "pending", account.id, -cut) is not None
            ):
                left -= cut
                reversal.grant_id = grant.id
    deducted = take - left
    balance_take = min(left, int(account.balance))
    if balance_take > 0:
        posted = await award_points(
            AwardRequest(
                tenant_id=event.tenant_id,
                member_id=member.id,
                definition_id=definition.id,
                amount=-balance_take,
                source=LedgerSource.RETURN,
                description=f"Return of order {event.order_id}: {describe(rule, event)}",
                actor=f"rule:{rule.id}",
            ),
            (member, definition),
        )
        reversal.ledger_entry_id = posted.entry.id if posted.entry else None
        deducted += balance_take
    reversal.points = -deducted
    if deducted < take:
        reversal.note = f"took back {deducted} of {take}: the balance was too low"


def award_row(award: RuleAward, taken_back: int = 0) -> dict[str, Any]:
    return {
        "id": award.id,
        "tenant_id": award.tenant_id,
        "rule_id": award.rule_id,
        "event_id": award.event_id,
        "member_id": award.member_id,
        "point_definition_id": award.point_definition_id,
        "points": award.points,
        "requested": award.requested,
        "taken_back": taken_back,
        "reverses_id": award.reverses_id,
        "ledger_entry_id": award.ledger_entry_id,
        "grant_id": award.grant_id,
        "forwarded_id": award.forwarded_id,
        "note": award.note,
        "created_at": award.created_at,
    }
