"""Subscriptions: replay what a client missed after its cursor, then stream live."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from graphql import GraphQLError

from core.broker import Interrupted, Overflowed, balances_channel, redemptions_channel
from models.live import (
    REPLAY_LIMIT,
    announce_balances,
    announce_redemption,
    replay_redemption_events,
)
from models.redemptions import RedemptionStatus as StatusModel
from resolvers.auth import BACKEND, parse_id, require
from schema.live import BalanceUpdate, RedemptionUpdate, RedemptionUpdateFilter

SEEN = 10_000  # event ids remembered to drop a duplicate at the replay/live seam


class _Seen:
    """The last `size` event ids delivered, for an O(1) "already delivered?" at the seam."""

    def __init__(self, size: int) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: int) -> None:
        self._order.append(event_id)
        self._ids.add(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


async def _stream(
    info: strawberry.Info,
    channel: str,
    accept: Callable[[dict[str, Any]], bool],
    replay: Callable[[int], Awaitable[list[dict[str, Any]]]] | None = None,
    after: int | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    broker = info.context.broker
    if broker is None:
        raise GraphQLError("Live updates are not available", extensions={"code": "UNAVAILABLE"})
    # Subscribe before reading the replay, so nothing committed in between is missed.
    async with broker.subscribe(channel) as subscriber:
        seen = _Seen(SEEN)
        last: Any = None
        if replay is not None and after is not None:
            # Page by page: a client away for longer than one page must not get a gap.
            cursor = after
            while True:
                page = await replay(cursor)
                for message in page:
                    if accept(message):
                        seen.add(message["eventId"])
                        last = message["eventId"]
                        yield message
                if len(page) < REPLAY_LIMIT:
                    break
                cursor = page[-1]["eventId"]
        while True:
            try:
                message = await subscriber.next()
            except Overflowed:
                raise GraphQLError(
                    "This subscriber fell behind; subscribe again with `after` set to the "
                    "last eventId received",
                    extensions={"code": "SUBSCRIBER_TOO_SLOW", "lastEventId": last},
                ) from None
            except Interrupted:
                raise GraphQLError(
                    "Live updates were interrupted; subscribe again with `after` set to the "
                    "last eventId received",
                    extensions={"code": "UPDATES_INTERRUPTED", "lastEventId": last},
                ) from None
            event_id = message.get("eventId")
            # A publisher may announce events late (a worker announces all since its job
            # started): the client had those at or before its cursor, or in the replay.
            if event_id is not None and (
                event_id in seen or (after is not None and event_id <= after)
            ):
                continue
            if accept(message):
                if event_id is not None:
                    seen.add(event_id)
                    last = event_id
                yield message


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

    def replay(since: int) -> Awaitable[list[dict[str, Any]]]:
        return replay_redemption_events(principal.tenant_id, since)

    async for message in _stream(
        info, redemptions_channel(principal.tenant_id), accept, replay, cursor
    ):
        yield RedemptionUpdate.from_message(message)


async def my_redemption_updates(
    info: strawberry.Info, after: strawberry.ID | None = None
) -> AsyncGenerator[RedemptionUpdate, None]:
    """The member's own redemptions (member token)."""
    principal = require(info, ("member",))
    me = str(principal.subject_id)
    cursor = _cursor(after)

    def replay(since: int) -> Awaitable[list[dict[str, Any]]]:
        return replay_redemption_events(principal.tenant_id, since, principal.subject_id)

    async for message in _stream(
        info,
        redemptions_channel(principal.tenant_id),
        lambda m: m["memberId"] == me,
        replay,
        cursor,
    ):
        yield RedemptionUpdate.from_message(message)


async def my_balance_changed(info: strawberry.Info) -> AsyncGenerator[BalanceUpdate, None]:
    """The member's balances whenever its points move (member token)."""
    principal = require(info, ("member",))
    me = str(principal.subject_id)
    async for message in _stream(
        info, balances_channel(principal.tenant_id), lambda m: m["memberId"] == me
    ):
        yield BalanceUpdate.from_message(message)


async def publish_redemption(
    broker: Any, tenant_id: UUID, redemption_id: UUID, since: datetime
) -> None:
    """After commit: tell subscribers about the redemption's new events."""
    if broker is not None:
        await announce_redemption(broker, tenant_id, redemption_id, since)


async def publish_balances(broker: Any, tenant_id: UUID, member_id: UUID) -> None:
    if broker is not None:
        await announce_balances(broker, tenant_id, member_id)
