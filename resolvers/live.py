"""Subscriptions: replay what a client missed after its cursor, then stream live.

Redemption updates go out in the tenant's commit order (models.live.messages, models.live.ordering):
a client's cursor is the last `eventId` it was given, and the events after it are those
numbered after that event, including ones whose ids are smaller but committed later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import strawberry
from graphql import GraphQLError

from core.broker import (
    Broker,
    Interrupted,
    Overflowed,
    Subscriber,
    Unavailable,
    balances_channel,
    redemptions_channel,
)
from models.live.messages import (
    REPLAY_LIMIT,
    latest_number,
    number_of,
    replay_redemption_events,
)
from models.live.ordering import CommitOrder
from models.redemptions.tables import RedemptionStatus as StatusModel
from resolvers.auth import BACKEND, Principal, parse_id, require
from resolvers.live_sharing import LEADING, SHARING, Sharing, shareable_after
from schema.live import BalanceUpdate, RedemptionUpdate, RedemptionUpdateFilter

# Errors that end a subscription and ask its client to subscribe again after its cursor.
RESUME_CODES = ("SUBSCRIBER_TOO_SLOW", "UPDATES_INTERRUPTED", "UPDATES_UNAVAILABLE")
SEEN = 10_000  # event ids remembered to drop a duplicate at the replay/live seam
_ID_BITS = 64  # event ids are BIGINT: a key below 2**64 is an id without a number


def _key(message: dict[str, Any]) -> int | None:
    """What a shared group is told each result is about (resolvers.live_sharing): one int
    that sorts by commit number then id, so a resumer can skip what it had; the event id
    is in the low bits. A message without a number keys on its id alone."""
    event_id = message.get("eventId")
    if event_id is None:
        return None
    seq = message.get("seq")
    return event_id if seq is None else (seq << _ID_BITS) | event_id


def _event_id(key: int | None) -> int | None:
    return None if key is None else key & ((1 << _ID_BITS) - 1)


@dataclass(frozen=True)
class _Events:
    """The stored events a stream replays and fills gaps from: a tenant's, or a member's."""

    tenant_id: UUID
    member_id: UUID | None = None

    def latest(self) -> Awaitable[int]:
        return latest_number(self.tenant_id)

    def number_of(self, event_id: int) -> Awaitable[int]:
        return number_of(self.tenant_id, event_id)

    def read(self, after: int, upto: int) -> Awaitable[list[dict[str, Any]]]:
        return replay_redemption_events(self.tenant_id, after, self.member_id, upto)


class _Seen:
    """The last `size` event ids delivered, for an O(1) "already delivered?" at the seam."""

    def __init__(self, size: int) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    @property
    def last(self) -> int | None:
        """The latest delivered, None before any."""
        return self._order[-1] if self._order else None

    def add(self, event_id: int) -> None:
        self._order.append(event_id)
        self._ids.add(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


class _PerMessage:
    """The GraphQL object for a broker message, built once however many subscriptions of
    this process accept it: the broker hands each of them the same decoded dict, so the
    recent ones are remembered by identity (holding the dict keeps its id unique)."""

    def __init__(self, build: Callable[[dict[str, Any]], Any], size: int = 256) -> None:
        self._build = build
        self._recent: OrderedDict[int, tuple[dict[str, Any], Any]] = OrderedDict()
        self._size = size

    def __call__(self, message: dict[str, Any]) -> Any:
        hit = self._recent.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        built = self._build(message)
        self._recent[id(message)] = (message, built)
        if len(self._recent) > self._size:
            self._recent.popitem(last=False)
        return built


_redemption_update = _PerMessage(RedemptionUpdate.from_message)
_balance_update = _PerMessage(BalanceUpdate.from_message)


_RESUME_TEXT = {
    "SUBSCRIBER_TOO_SLOW": "This subscriber fell behind; subscribe again",
    "UPDATES_INTERRUPTED": "Live updates were interrupted; subscribe again",
    "UPDATES_UNAVAILABLE": "Live updates are unavailable (Redis cannot be reached); "
    "subscribe again later",
}


def _resume_error(code: str, last: int | None) -> GraphQLError:
    return GraphQLError(
        f"{_RESUME_TEXT[code]} with `after` set to the last eventId received",
        extensions={"code": code, "lastEventId": last},
    )


@contextlib.asynccontextmanager
async def _subscribed(broker: Broker, channel: str, after: int | None) -> AsyncIterator[Subscriber]:
    """The broker's subscription; with Redis away, a coded error to resume from `after`
    (nothing was delivered yet: the client's own cursor is where it resumes)."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            subscriber = await stack.enter_async_context(broker.subscribe(channel))
        except Unavailable:
            raise _resume_error("UPDATES_UNAVAILABLE", after) from None
        yield subscriber


async def _replayed(
    events: _Events,
    after: int,
    upto: int,
    accept: Callable[[dict[str, Any]], bool],
    seen: _Seen,
) -> AsyncGenerator[dict[str, Any], None]:
    """Stored events numbered in (after, upto] that `accept` takes, page by page (a client
    away for longer than one page must not get a gap), each added to `seen` as it is
    delivered."""
    cursor = after
    while cursor < upto:
        page = await events.read(cursor, upto)
        for message in page:
            if accept(message):
                seen.add(message["eventId"])
                yield message
        if len(page) < REPLAY_LIMIT:
            return
        cursor = page[-1]["seq"]


async def _ready(subscriber: Subscriber, order: CommitOrder | None) -> list[dict[str, Any]]:
    """The next messages that may go on, in commit order when the stream keeps one."""
    if order is None:
        return [await subscriber.next()]
    wait = order.wait()
    if wait is None:
        return order.arrived(await subscriber.next())
    if wait <= 0:  # even with messages queued: a steady flow must not put the read off
        return await order.filled()
    try:
        async with asyncio.timeout(wait):
            message = await subscriber.next()
    except TimeoutError:
        return await order.filled()
    return order.arrived(message)


async def _stream(
    info: strawberry.Info,
    channel: str,
    accept: Callable[[dict[str, Any]], bool],
    events: _Events | None = None,
    after: int | None = None,
    scope: Hashable | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Replay after the cursor, then live messages `accept` takes; with `events`, all in
    commit order. With a `scope` (what of the caller the results depend on), on a
    transport that offers it, the live part is shared with identical subscriptions
    (resolvers.live_sharing)."""
    broker = info.context.broker
    if broker is None:
        raise GraphQLError("Live updates are not available", extensions={"code": "UNAVAILABLE"})
    sharing = SHARING.get() if scope is not None else None
    if sharing is not None:
        shareable, after_variable = shareable_after(info)
        if shareable:
            async for message in _joined(sharing, scope, after_variable, accept, events, after):
                yield message
            return
    leader = LEADING.get()
    # Subscribe before reading the replay, so nothing committed in between is missed.
    async with _subscribed(broker, channel, after) as subscriber:
        if leader is not None:
            leader.subscribed()
        seen = _Seen(SEEN)
        order = None
        if events is not None:
            # Everything numbered up to the latest number is committed, the rest is
            # published after this subscription: the replay ends and the order starts there.
            latest = await events.latest()
            if after is not None:
                cursor = await events.number_of(after)
                async for message in _replayed(events, cursor, latest, accept, seen):
                    yield message
            order = CommitOrder(latest, events.read, REPLAY_LIMIT, resumed=after is not None)
        while True:
            try:
                ready = await _ready(subscriber, order)
            except Overflowed:
                raise _resume_error("SUBSCRIBER_TOO_SLOW", seen.last) from None
            except Interrupted:
                raise _resume_error("UPDATES_INTERRUPTED", seen.last) from None
            for message in ready:
                event_id = message.get("eventId")
                # A publisher may announce events late (a worker announces all since its job
                # started): the order drops the numbered ones handled already; a message
                # without a number is dropped at or before the cursor, or if delivered.
                if event_id is not None and (
                    event_id in seen
                    or (message.get("seq") is None and after is not None and event_id <= after)
                ):
                    continue
                if accept(message):
                    if event_id is not None:
                        seen.add(event_id)
                    if leader is not None:
                        leader.about(_key(message))
                    yield message


async def _joined(
    sharing: Sharing,
    scope: Hashable,
    after_variable: str | None,
    accept: Callable[[dict[str, Any]], bool],
    events: _Events | None,
    after: int | None,
) -> AsyncGenerator[dict[str, Any], None]:
    """The shared live part: joined (so subscribed) before the replay, as above; the group
    (in commit order itself) keeps what arrives meanwhile and drops, at the seam and later,
    what this subscriber had at or before its cursor or in the replay."""
    async with sharing.join(scope, after_variable) as seat:
        seen = _Seen(SEEN)
        last: int | None = None
        skip: Callable[[int], bool] | None = None
        if events is not None and after is not None:
            latest = await events.latest()
            cursor = await events.number_of(after)
            async for message in _replayed(events, cursor, latest, accept, seen):
                last = _key(message)
                yield message
            skip = _skip(latest, after, seen)
        ending = await seat.serve(skip, last)
    if ending.code in RESUME_CODES:
        raise _resume_error(ending.code, _event_id(ending.last_event_id))
    if ending.error is not None:
        raise GraphQLError(ending.error["message"], extensions=ending.error.get("extensions"))


def _skip(replayed_upto: int, after: int, seen: _Seen) -> Callable[[int], bool]:
    """What a resumer drops of its group's results (by `_key`): what it had in the replay,
    numbered up to where the replay ended, or (without a number) at or before its cursor."""

    def skip(key: int) -> bool:
        if _event_id(key) in seen:
            return True
        if key >> _ID_BITS:
            return key >> _ID_BITS <= replayed_upto
        return key <= after

    return skip


def _scope(principal: Principal) -> Hashable:
    """What of the caller a subscription's results depend on, the key (with the document
    and variables) of the group it may share: the tenant, and the member for a member
    token. Admins and API keys get the same results today; they are kept apart all the
    same, so that a field shown differently to them one day cannot leak across."""
    return (principal.kind, principal.tenant_id, principal.member_id)


def _cursor(after: strawberry.ID | None) -> int | None:
    if after is None:
        return None
    try:
        return int(after)
    except ValueError:
        raise GraphQLError("Invalid cursor", extensions={"code": "INVALID_CURSOR"}) from None


async def redemption_updates(
    info: strawberry.Info,
    filter: RedemptionUpdateFilter | None = None,
    after: strawberry.ID | None = None,
) -> AsyncGenerator[RedemptionUpdate, None]:
    """Every event of the tenant's redemptions (admins and API keys)."""
    principal = require(info, BACKEND)
    statuses = {StatusModel(s).value for s in filter.status} if filter and filter.status else None
    member = str(parse_id(filter.member_id, "memberId")) if filter and filter.member_id else None
    reward = str(parse_id(filter.reward_id, "rewardId")) if filter and filter.reward_id else None

    def accept(message: dict[str, Any]) -> bool:
        update_status = message["event"]["to_status"] or message["redemption"]["status"]
        return (
            (statuses is None or update_status in statuses)
            and (member is None or message["memberId"] == member)
            and (reward is None or message["rewardId"] == reward)
        )

    cursor = _cursor(after)
    events = _Events(principal.tenant_id)
    async for message in _stream(
        info, redemptions_channel(principal.tenant_id), accept, events, cursor, _scope(principal)
    ):
        yield _redemption_update(message)


async def my_redemption_updates(
    info: strawberry.Info, after: strawberry.ID | None = None
) -> AsyncGenerator[RedemptionUpdate, None]:
    """The member's own redemptions (member token)."""
    principal = require(info, ("member",))
    me = str(principal.subject_id)
    cursor = _cursor(after)
    async for message in _stream(
        info,
        redemptions_channel(principal.tenant_id),
        lambda m: m["memberId"] == me,
        _Events(principal.tenant_id, principal.subject_id),
        cursor,
        _scope(principal),
    ):
        yield _redemption_update(message)


async def my_balance_changed(info: strawberry.Info) -> AsyncGenerator[BalanceUpdate, None]:
    """The member's balances whenever its points move (member token)."""
    principal = require(info, ("member",))
    me = str(principal.subject_id)
    async for message in _stream(
        info,
        balances_channel(principal.tenant_id),
        lambda m: m["memberId"] == me,
        scope=_scope(principal),
    ):
        yield _balance_update(message)
