"""Tracking a batch of member events (POST /api/v1/events) in chunks: the rules of
models.programme.events, applied with a few statements per chunk instead of a transaction
(and some twenty round trips) per event.

One transaction per chunk of consecutive events, in their order:
- the events' rows, one INSERT (the unique indexes on key and purchase order still decide);
- the cap counters, each claimed once for what the chunk's events ask of it
  (caps.claim_counters: the same guarded UPDATE, rows locked in the single path's order),
  then shared out in event order exactly as one claim per event would have, and what no
  event took given back;
- the purchases that the chunk's returns name, and their awards, locked (before accounts,
  as a single return locks them);
- the accounts, locked and settled, and the postings computed on them in event order by
  the ledger's own AccountBook (models.points.bulk_postings): pending and expiring grants,
  the currency's expiry policy, a return taking back pending points first, then the
  balance, never below 0; each account then moves once;
- the awards, one INSERT; the tiers of members who earned (models.tiers, once per member
  and currency, after the chunk's postings).

An event the chunk cannot take is tracked alone (`track_event`) in its place, once the
events before it are committed: a key or purchase order already in the chunk, an award
above the ledger's maximum; so is every event of a tenant with a currency a point master
owns (its awards are forwarded one by one). A chunk that meets a concurrent writer's key
or order (unique index) or a balance at its limit is rolled back whole and its events are
tracked one by one: the same outcome, the slow way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from core import clock
from core.errors import DomainError, ErrorCode, InvalidInput
from models.db.bulk_statements import insert_rows, update_rows
from models.db.idempotency import validate_key
from models.db.transactions import atomic
from models.members.tables import Member
from models.pointmaster.modes import FOLLOWER_MODES, definition_mode
from models.points.awards import MAX_AMOUNT, MAX_BALANCE
from models.points.bulk_postings import AccountBook
from models.points.expiry import expiry_for
from models.points.tables import (
    GrantStatus,
    LedgerSource,
    PointAccount,
    PointDefinition,
    PointGrant,
)
from models.programme import caps
from models.programme.earning import evaluate
from models.programme.events import (
    EventInput,
    RuleBook,
    Tracked,
    award_row,
    award_values,
    check_replay,
    clean_event,
    describe,
    duplicate_order,
    event_fingerprint,
    event_values,
    replayed_event,
    returned_share,
    track_event,
)
from models.programme.tables import EarningRule, MemberEvent, RuleAward
from models.tiers.evaluation import active_policy, counts, points_earned
from models.tiers.tables import TierPolicy

M = TypeVar("M", bound=Model)
CHUNK = 1000  # events a transaction (a request's most)


@dataclass
class _Planned:
    """An event of a chunk: validated, its member found, the rules that earn on it."""

    index: int
    event: MemberEvent
    member: Member
    earned: list[tuple[EarningRule, int, list[caps.Cap]]]  # rule, points asked, its caps


class _OneByOne(Exception):
    """The chunk must be tracked event by event (rolled back)."""


async def track_events(
    tenant_id: UUID, inputs: list[EventInput], actor: str
) -> list[Tracked | DomainError]:
    """Each event's outcome, in order: what it awarded (or awarded before: a replay), or
    why it was refused. Events are applied in order, as `track_event` one after another
    would apply them."""
    book = RuleBook(tenant_id)
    await book.prefetch(
        {i.external_user_id for i in inputs if isinstance(i.external_user_id, str)},
        {i.idempotency_key for i in inputs if isinstance(i.idempotency_key, str)},
    )
    results: list[Tracked | DomainError | None] = [None] * len(inputs)
    alone = await _forwarding(tenant_id, book)
    stored = await _stored(tenant_id, book, inputs)
    chunk: list[_Planned] = []
    keys: set[str] = set()
    orders: set[str] = set()

    async def flush() -> None:
        if chunk:
            await _apply_chunk(book, inputs, chunk, actor, results)
            chunk.clear()
            keys.clear()
            orders.clear()

    for index, inp in enumerate(inputs):
        try:
            planned = None if alone else await _plan(book, index, inp, actor, keys, orders, stored)
        except DomainError as exc:
            results[index] = exc
            continue
        if isinstance(planned, Tracked):
            results[index] = planned
            continue
        if planned is None:
            await flush()
            results[index] = await _alone(book, inp, actor)
            continue
        chunk.append(planned)
        keys.add(planned.event.idempotency_key)
        if planned.event.purchase_order is not None:
            orders.add(planned.event.purchase_order)
        if len(chunk) >= CHUNK:
            await flush()
    await flush()
    return [r for r in results if r is not None]


async def _forwarding(tenant_id: UUID, book: RuleBook) -> bool:
    """Whether a point master owns one of the tenant's currencies (awards are forwarded)."""
    for definition in await PointDefinition.filter(tenant_id=tenant_id):
        if await definition_mode(definition) in FOLLOWER_MODES:
            return True
    return False


async def _alone(book: RuleBook, inp: EventInput, actor: str) -> Tracked | DomainError:
    try:
        return await track_event(book.tenant_id, inp, actor, book)
    except DomainError as exc:
        return exc


async def _stored(tenant_id: UUID, book: RuleBook, inputs: list[EventInput]) -> dict[str, Tracked]:
    """The batch's events stored before it (re-sent), with their awards: two reads for all."""
    keys = {k for i in inputs if (k := _key(i)) is not None and book.may_be_seen(k)}
    if not keys:
        return {}
    events = await MemberEvent.filter(tenant_id=tenant_id, idempotency_key__in=list(keys))
    awards = await RuleAward.filter(event_id__in=[e.id for e in events]).order_by(
        "created_at", "id"
    )
    found = {e.id: Tracked(e, [], replayed=True) for e in events}
    for award in awards:
        found[award.event_id].awards.append(award)
    return {t.event.idempotency_key: t for t in found.values()}


def _key(inp: EventInput) -> str | None:
    try:
        return validate_key(inp.idempotency_key)
    except DomainError:
        return None


async def _plan(
    book: RuleBook,
    index: int,
    inp: EventInput,
    actor: str,
    keys: set[str],
    orders: set[str],
    stored: dict[str, Tracked],
) -> _Planned | Tracked | None:
    """The event checked as `track_event` checks it; a replay's earlier outcome; None when
    the chunk cannot take it (it goes alone)."""
    now = clock.now()
    key = validate_key(inp.idempotency_key)
    if key is None:
        raise InvalidInput("Required", field="idempotencyKey", code=ErrorCode.REQUIRED)
    clean = clean_event(inp.type, inp.properties, inp.occurred_at, now)
    if key in keys or (clean.type == "purchase" and clean.order_id in orders):
        return None  # a replay of, or the same order as, an event not committed yet
    fingerprint = event_fingerprint(inp, clean)
    if key in stored:
        check_replay(stored[key].event, fingerprint)
        return stored[key]
    if book.may_be_seen(key):
        earlier = await replayed_event(book.tenant_id, key, fingerprint)
        if earlier is not None:
            return earlier
    member = await book.member(inp.external_user_id)
    event = _built(
        MemberEvent, event_values(book.tenant_id, member, clean, key, fingerprint, actor, now)
    )
    earned = []
    for rule in await book.rules_for(event.type):
        verdict = evaluate(rule, event.type, event.occurred_at, event.properties)
        if verdict.points <= 0:
            continue
        if verdict.points > MAX_AMOUNT:
            return None  # refused by the ledger: alone, it is refused whole
        earned.append((rule, verdict.points, caps.caps_of(rule, member.id, event.occurred_at)))
    return _Planned(index, event, member, earned)


async def _apply_chunk(
    book: RuleBook,
    inputs: list[EventInput],
    chunk: list[_Planned],
    actor: str,
    results: list[Tracked | DomainError | None],
) -> None:
    taken = await _orders_taken(book.tenant_id, chunk)
    for planned in chunk:
        if planned.event.purchase_order in taken:
            results[planned.index] = duplicate_order(planned.event.order_id)
    todo = [p for p in chunk if p.event.purchase_order not in taken]
    try:
        async with atomic() as conn:
            awards = await _Chunk(conn, book, todo).apply()
    except (IntegrityError, _OneByOne):
        for planned in todo:  # a concurrent writer, or a limit: each event on its own
            results[planned.index] = await _alone(book, inputs[planned.index], actor)
        return
    for planned in todo:
        book.stored(planned.event.idempotency_key)
        results[planned.index] = Tracked(planned.event, awards[planned.event.id], replayed=False)


async def _orders_taken(tenant_id: UUID, chunk: list[_Planned]) -> set[str]:
    orders = [p.event.purchase_order for p in chunk if p.event.purchase_order is not None]
    if not orders:
        return set()
    found = await MemberEvent.filter(tenant_id=tenant_id, purchase_order__in=orders).values_list(
        "purchase_order", flat=True
    )
    return {str(o) for o in found}


@dataclass
class _Purchase:
    """A purchase a return of the chunk names, and what it earned (points > 0)."""

    event: MemberEvent
    awards: list[RuleAward]


class _Chunk:
    def __init__(self, conn: BaseDBAsyncClient, book: RuleBook, planned: list[_Planned]) -> None:
        self.conn = conn
        self.book = book
        self.planned = planned
        self.taken_back: dict[UUID, int] = {}  # award id -> taken back, as it will be stored
        self.stored_awards: set[UUID] = set()  # awards read from the database
        self.purchases: dict[tuple[UUID, str], _Purchase] = {}
        self.rules: dict[UUID, EarningRule] = {}
        self.pending_grants: dict[UUID, dict[str, Any]] = {}  # grant id -> its row (or copy)
        self.grant_updates: dict[UUID, tuple[int, dict[str, Any]]] = {}  # stored: amount read
        self.earners: dict[tuple[UUID, UUID], tuple[Member, PointDefinition]] = {}
        self.definitions: dict[UUID, PointDefinition] = {}
        self.now = clock.now()  # read again once the accounts are locked

    async def apply(self) -> dict[UUID, list[RuleAward]]:
        conn = self.conn
        for planned in self.planned:
            for rule, _, _ in planned.earned:
                definition_id = rule.point_definition_id
                if definition_id not in self.definitions:
                    self.definitions[definition_id] = (await self.book.definition(definition_id))[0]
        await insert_rows(conn, MemberEvent, [_event_row(p.event) for p in self.planned])
        granted = await self._claim_caps()
        await self._load_purchases()
        accounts = await self._accounts()
        ledger = await AccountBook.locked(conn, set(accounts.values()))
        self.now = clock.now()
        await self._load_pending_grants(ledger)
        await ledger.load_lots({accounts[k] for k in self._debited(accounts)})
        awards: dict[UUID, list[RuleAward]] = {}
        for planned in self.planned:
            event_awards = self._earn(ledger, accounts, planned, granted)
            if planned.event.type == "return":
                event_awards += self._take_back(ledger, accounts, planned)
            awards[planned.event.id] = event_awards
            if planned.event.purchase_order is not None:
                key = (planned.member.id, planned.event.purchase_order)
                self.purchases[key] = _Purchase(planned.event, [a for a in event_awards])
        await ledger.write()
        await self._write_grants()
        rows = [a for event_awards in awards.values() for a in event_awards]
        await insert_rows(
            conn, RuleAward, [award_row(a, self.taken_back.get(a.id, 0)) for a in rows]
        )
        changed = [
            {"id": award_id, "taken_back": n}
            for award_id, n in self.taken_back.items()
            if award_id in self.stored_awards
        ]
        await update_rows(conn, RuleAward, "id", changed)
        await self._upgrade_tiers(ledger, accounts)
        return awards

    async def _upgrade_tiers(
        self, ledger: AccountBook, accounts: dict[tuple[UUID, UUID], UUID]
    ) -> None:
        """Upgrade at once, as after each posting: on the highest activity the member's
        postings reached in the chunk (a return later in the chunk does not undo it)."""
        policy = await active_policy(self.book.tenant_id)
        if policy is None or not self.earners:
            return
        by_account: dict[UUID, list[dict[str, Any]]] = {}
        for entry in ledger.entries:
            by_account.setdefault(entry["account_id"], []).append(entry)
        at = ledger.later()  # after every posting of the chunk
        for (member_id, definition_id), (member, definition) in sorted(
            self.earners.items(), key=_by_ids
        ):
            entries = by_account.get(accounts[(member_id, definition_id)], [])
            await points_earned(conn=self.conn, member=member, definition=definition, now=at,
                                peak=_peak(policy, entries))  # fmt: skip

    # -- caps --------------------------------------------------------------------------

    async def _claim_caps(self) -> dict[tuple[UUID, int], tuple[int, str]]:
        """(event's place, rule) -> (points granted under the rule's caps, the cap that bound)."""
        asked: caps.Counters = {}
        for planned in self.planned:
            for rule, points, rule_caps in planned.earned:
                for cap in rule_caps:
                    total, _ = asked.get((rule.id, cap.scope), (0, cap.limit))
                    asked[(rule.id, cap.scope)] = (total + points, cap.limit)
        left = await caps.claim_counters(self.conn, asked)
        granted: dict[tuple[UUID, int], tuple[int, str]] = {}
        for planned in self.planned:
            for rule, points, rule_caps in planned.earned:
                # As one claim per event: each cap grants what is left of it, the least wins.
                got, bound = points, ""
                for cap in rule_caps:
                    here = min(got, left[(rule.id, cap.scope)])
                    if here < got:
                        got, bound = here, cap.label
                    if got == 0:
                        break
                for cap in rule_caps:
                    left[(rule.id, cap.scope)] -= got
                granted[(rule.id, planned.index)] = (got, bound)
        await caps.give_back_counters(self.conn, left)
        return granted

    # -- what returns need ---------------------------------------------------------------

    async def _load_purchases(self) -> None:
        """The purchases the chunk's returns name that were tracked before it, and their
        awards, locked (a concurrent return of the same order waits)."""
        returns = {
            (p.member.id, p.event.order_id) for p in self.planned if p.event.type == "return"
        }
        if not returns:
            return
        events = await MemberEvent.filter(
            tenant_id=self.book.tenant_id, purchase_order__in=[o for _, o in returns]
        ).using_db(self.conn)
        mine = {e.id: e for e in events if (e.member_id, e.purchase_order) in returns}
        if not mine:
            return
        awards = (
            await RuleAward.filter(event_id__in=list(mine), points__gt=0)
            .select_for_update()
            .using_db(self.conn)
            .order_by("point_definition_id", "id")
        )
        for event in mine.values():
            assert event.purchase_order is not None
            found = [a for a in awards if a.event_id == event.id]
            self.purchases[(event.member_id, event.purchase_order)] = _Purchase(event, found)
        for award in awards:
            self.taken_back[award.id] = int(award.taken_back)
            self.stored_awards.add(award.id)
        rule_ids = {a.rule_id for a in awards}
        for rule in await EarningRule.filter(id__in=list(rule_ids)).using_db(self.conn):
            self.rules[rule.id] = rule

    async def _load_pending_grants(self, ledger: AccountBook) -> None:
        """Stored pending grants a return may cut (read under their accounts' locks)."""
        ids = [
            a.grant_id
            for purchase in self.purchases.values()
            for a in purchase.awards
            if a.grant_id is not None
        ]
        if not ids:
            return
        grants = (
            await PointGrant.filter(id__in=ids, status=GrantStatus.PENDING)
            .using_db(self.conn)
            .values("id", "amount", "status", "due_at", "valid_from")
        )
        for row in grants:
            self.pending_grants[row["id"]] = dict(row)

    async def _accounts(self) -> dict[tuple[UUID, UUID], UUID]:
        """(member, currency) -> account id, for every account the chunk may post to;
        created on first use (race-safe), as `ensure_account` does."""
        wanted: set[tuple[UUID, UUID]] = set()
        for planned in self.planned:
            for rule, _, _ in planned.earned:
                wanted.add((planned.member.id, rule.point_definition_id))
            if planned.event.type == "return":
                for purchase in self.purchases.values():
                    if purchase.event.member_id == planned.member.id:
                        wanted.update(
                            (planned.member.id, a.point_definition_id) for a in purchase.awards
                        )
        if not wanted:
            return {}
        members = list({m for m, _ in wanted})
        found = await self._read_accounts(members)
        missing = [k for k in wanted if k not in found]
        if missing:
            await PointAccount.bulk_create(
                [
                    PointAccount(id=uuid4(), tenant_id=self.book.tenant_id, member_id=m,
                                 definition_id=d)
                    for m, d in missing
                ],
                ignore_conflicts=True,
            )  # fmt: skip
            found = await self._read_accounts(members)
        return {k: found[k] for k in wanted}

    async def _read_accounts(self, members: list[UUID]) -> dict[tuple[UUID, UUID], UUID]:
        rows = await PointAccount.filter(member_id__in=members).values_list(
            "member_id", "definition_id", "id"
        )
        return {(UUID(str(m)), UUID(str(d))): UUID(str(i)) for m, d, i in rows}

    def _debited(self, accounts: dict[tuple[UUID, UUID], UUID]) -> set[tuple[UUID, UUID]]:
        """The accounts a return of the chunk may take points from."""
        members = {p.member.id for p in self.planned if p.event.type == "return"}
        return {k for k in accounts if k[0] in members}

    # -- one event -------------------------------------------------------------------------

    def _earn(
        self,
        ledger: AccountBook,
        accounts: dict[tuple[UUID, UUID], UUID],
        planned: _Planned,
        granted: dict[tuple[UUID, int], tuple[int, str]],
    ) -> list[RuleAward]:
        event, member, now = planned.event, planned.member, planned.event.received_at
        awards = []
        for rule, requested, _ in sorted(
            planned.earned, key=lambda e: (str(e[0].point_definition_id), str(e[0].id))
        ):
            got, bound = granted[(rule.id, planned.index)]
            note = f"{bound}: {got} of {requested}" if bound else ""
            award = _built(RuleAward, award_values(rule, event, member, requested, now, note))
            self.rules[rule.id] = rule
            if got > 0:
                self._post(ledger, accounts[(member.id, rule.point_definition_id)], rule, planned,
                           award, got)  # fmt: skip
            awards.append(award)
        return awards

    def _post(
        self,
        ledger: AccountBook,
        account_id: UUID,
        rule: EarningRule,
        planned: _Planned,
        award: RuleAward,
        points: int,
    ) -> None:
        """As models.programme.events._post through award_points, on the chunk's book (the
        entries' times are the book's): the rule's delay and validity count from the event's
        arrival, the currency's policy from the clock, as there."""
        event, now, received = planned.event, self.now, planned.event.received_at
        account = ledger.accounts[account_id]
        if account.balance + account.pending + points > MAX_BALANCE:
            raise _OneByOne  # alone, the award is refused and its cap claim given back
        definition = self.definitions[rule.point_definition_id]
        valid_from = received + timedelta(days=rule.pending_days) if rule.pending_days else None
        start = valid_from or received
        valid_to = start + timedelta(days=rule.validity_days) if rule.validity_days else None
        if valid_to is None:  # the currency's expiry policy (awards.award_points)
            valid_to = expiry_for(
                definition.expiry_policy, definition.expiry_value, valid_from or now
            )
        posting = uuid4()
        source = LedgerSource.PURCHASE if event.type == "purchase" else LedgerSource.BONUS
        text, actor = describe(rule, event), f"rule:{rule.id}"
        if valid_from is not None and valid_from > now:
            ledger.add_grant(account_id, posting, points, source, description=text, actor=actor,
                             valid_from=valid_from, valid_to=valid_to, pending=True)  # fmt: skip
            self.pending_grants[posting] = ledger.grants[-1]
            award.grant_id = posting
        else:
            ledger.post(account_id, points, source, description=text, actor=actor,
                        valid_from=valid_from, valid_to=valid_to, entry_id=posting)  # fmt: skip
            award.ledger_entry_id = posting
            if valid_to is not None:
                ledger.add_grant(account_id, posting, points, source, description=text,
                                 actor=actor, valid_from=valid_from, valid_to=valid_to,
                                 pending=False)  # fmt: skip
                award.grant_id = posting
            self.earners[(planned.member.id, definition.id)] = (planned.member, definition)
        award.points = points

    def _take_back(
        self, ledger: AccountBook, accounts: dict[tuple[UUID, UUID], UUID], planned: _Planned
    ) -> list[RuleAward]:
        """As models.programme.events._take_back, on the chunk's book."""
        event, member = planned.event, planned.member
        assert event.order_id is not None
        purchase = self.purchases.get((member.id, event.order_id))
        if purchase is None:
            return []
        share = returned_share(purchase.event, event)
        reversals = []
        for original in sorted(
            (a for a in purchase.awards if a.points > 0),
            key=lambda a: (str(a.point_definition_id), str(a.id)),
        ):
            want = (
                int(original.points)
                if share is None
                else int((original.points * share).quantize(Decimal(1), ROUND_HALF_UP))
            )
            done = self.taken_back.get(original.id, 0)
            take = min(want, int(original.points) - done)
            if take <= 0:
                continue
            self.taken_back[original.id] = done + take
            rule = self.rules[original.rule_id]
            reversal = _built(
                RuleAward, award_values(rule, event, member, -take, event.received_at, "")
            )
            reversal.reverses_id = original.id
            account_id = accounts[(member.id, original.point_definition_id)]
            self._deduct(ledger, account_id, rule, event, original, reversal, take)
            reversals.append(reversal)
        return reversals

    def _deduct(
        self,
        ledger: AccountBook,
        account_id: UUID,
        rule: EarningRule,
        event: MemberEvent,
        original: RuleAward,
        reversal: RuleAward,
        take: int,
    ) -> None:
        """Pending points of the original award first, then the balance, never below 0."""
        account = ledger.accounts[account_id]
        left = take
        grant = self.pending_grants.get(original.grant_id) if original.grant_id else None
        if (
            grant is not None
            and grant["status"] == GrantStatus.PENDING
            and (grant["valid_from"] is None or grant["valid_from"] > clock.now())
        ):
            cut = min(left, int(grant["amount"]))
            self._cut(grant, cut)
            account.pending -= cut
            left -= cut
            reversal.grant_id = grant["id"]
        deducted = take - left
        balance_take = min(left, int(account.balance))
        if balance_take > 0:
            posting = uuid4()
            ledger.post(account_id, -balance_take, LedgerSource.RETURN,
                        description=f"Return of order {event.order_id}: {describe(rule, event)}",
                        actor=f"rule:{rule.id}", entry_id=posting)  # fmt: skip
            reversal.ledger_entry_id = posting
            deducted += balance_take
        reversal.points = -deducted
        if deducted < take:
            reversal.note = f"took back {deducted} of {take}: the balance was too low"

    def _cut(self, grant: dict[str, Any], cut: int) -> None:
        """Take `cut` of a pending grant: the chunk's own row, or a stored one's update."""
        if grant["id"] not in self.grant_updates and grant.get("account_id") is None:
            self.grant_updates[grant["id"]] = (int(grant["amount"]), grant)
        expired = cut == grant["amount"]
        grant["amount"] = int(grant["amount"]) - cut
        if expired:
            grant["status"] = GrantStatus.EXPIRED.value
            grant["due_at"] = None

    async def _write_grants(self) -> None:
        for grant_id, (amount_read, grant) in self.grant_updates.items():
            changed = (
                await PointGrant.filter(id=grant_id, status=GrantStatus.PENDING, amount=amount_read)
                .using_db(self.conn)
                .update(
                    amount=grant["amount"],
                    status=GrantStatus(grant["status"]),
                    due_at=grant["due_at"],
                )
            )
            if not changed:
                raise RuntimeError(f"grant {grant_id} changed under its account's lock")


def _event_row(event: MemberEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "tenant_id": event.tenant_id,
        "member_id": event.member_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "properties": json.dumps(event.properties, separators=(",", ":")),
        "idempotency_key": event.idempotency_key,
        "request_hash": event.request_hash,
        "order_id": event.order_id,
        "purchase_order": event.purchase_order,
        "actor": event.actor,
    }


def _built(model: type[M], values: dict[str, Any]) -> M:
    """The model of a row this chunk writes itself, made as Tortoise makes one it read:
    its constructor checks and converts every field through `__setattr__`, which was a
    fifth of a batch's time. (The chunk INSERTs rows, never `save()`s these.)"""
    return model._init_from_db(**values)


def _peak(policy: TierPolicy, entries: list[dict[str, Any]]) -> Callable[[int], int]:
    """The activity right after the best of `entries`' earning postings, from the activity
    after all of them (models.tiers.evaluation.points_earned)."""
    total, reached = 0, []
    for entry in entries:
        if counts(policy, entry["source"], entry["amount"]):
            total += entry["amount"]
        if entry["amount"] > 0:
            reached.append(total)
    best = max(reached, default=total)
    return lambda after: max(0, after - total + best)


def _by_ids(item: tuple[tuple[UUID, UUID], Any]) -> tuple[str, str]:
    return str(item[0][0]), str(item[0][1])
