"""DataLoaders: the field resolvers' reads, batched so a list of N objects costs the same
statements as a list of one (no N+1).

Cut to the caller (models.tenancy.readers.Reader): a loader keyed by id reads only what
the caller may read, so a foreign id loads as None. A query gets its own `Loaders`, which
cache: its resolvers share what they read (the widget's `me` and `catalog` read the member
and its balances once). Mutations and subscriptions share one per GraphQL context that
batches and does not cache: a context lives as long as its WebSocket, and a mutation's
payload must show the rows as they are after it, not as an earlier field read them."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, partial
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader

from core import clock
from models.catalog.reads import live_stock, rewards_by_id, usage_by_member
from models.catalog.tables import MemberRewardUsage, Reward
from models.members.own_state import own_state
from models.members.reads import members_by_id, tiers_by_id
from models.members.tables import Member, Tier
from models.points.grants import AccountView
from models.points.reads import (
    GrantsKey,
    account_views,
    accounts_by_member,
    definitions_by_id,
    grants_by_account,
)
from models.points.tables import PointAccount, PointDefinition, PointGrant
from models.redemptions.reads import timelines
from models.redemptions.tables import RedemptionEvent
from models.tenancy.readers import Reader
from models.webhooks.reads import attempts_by_delivery, deliveries_by_id
from models.webhooks.tables import WebhookAttempt, WebhookDelivery

K = TypeVar("K")
V = TypeVar("V")
MAX_GRANTS_LISTED = 100


class Loaders:
    def __init__(self, reader: Reader, *, cache: bool = False) -> None:
        self.reader = reader
        self.cache = cache

    def _loader(
        self, batch: Callable[[Reader, Sequence[K]], Awaitable[Sequence[V]]]
    ) -> DataLoader[K, V]:
        # The loader holds the reader, not these Loaders that hold the loader: no reference
        # cycle, so a request's reads are freed when it ends, not by the garbage collector.
        reader = self.reader

        async def load(keys: list[K]) -> Sequence[V]:
            return await batch(reader, keys)

        return DataLoader(load_fn=load, cache=self.cache)

    @cached_property
    def reward(self) -> DataLoader[UUID, Reward | None]:
        return self._loader(rewards_by_id)

    @cached_property
    def member(self) -> DataLoader[UUID, Member | None]:
        if self.cache and self.reader.member_id is not None:
            return self._loader(partial(_own_member, weakref.ref(self)))
        return self._loader(members_by_id)

    @cached_property
    def tier(self) -> DataLoader[UUID, Tier | None]:
        return self._loader(tiers_by_id)

    @cached_property
    def definition(self) -> DataLoader[UUID, PointDefinition | None]:
        return self._loader(definitions_by_id)

    @cached_property
    def accounts(self) -> DataLoader[UUID, list[PointAccount]]:
        """A member's accounts, oldest first."""
        return self._loader(accounts_by_member)

    @cached_property
    def usage(self) -> DataLoader[UUID, dict[UUID, MemberRewardUsage]]:
        """A member's use of rewards (limit and cooldown), by reward id."""
        return self._loader(usage_by_member)

    @cached_property
    def stock(self) -> DataLoader[UUID, dict[UUID, int]]:
        """By tenant id (the reader's): the stock of its live rewards that have one."""

        async def by_tenant(reader: Reader, tenant_ids: Sequence[UUID]) -> list[dict[UUID, int]]:
            return [await live_stock(reader.tenant_id) for _ in tenant_ids]

        return self._loader(by_tenant)

    @cached_property
    def account_view(self) -> DataLoader[PointAccount, AccountView]:
        return self._loader(account_views)

    @cached_property
    def grants(self) -> DataLoader[GrantsKey, list[PointGrant]]:
        """An account's grants of some statuses (all when none), oldest first, at most 100."""
        return self._loader(partial(grants_by_account, limit=MAX_GRANTS_LISTED))

    @cached_property
    def timeline(self) -> DataLoader[UUID, list[RedemptionEvent]]:
        """A redemption's events, oldest first."""
        return self._loader(timelines)

    @cached_property
    def delivery(self) -> DataLoader[UUID, WebhookDelivery | None]:
        return self._loader(deliveries_by_id)

    @cached_property
    def attempts(self) -> DataLoader[UUID, list[WebhookAttempt]]:
        """A delivery's attempts, oldest first."""
        return self._loader(attempts_by_delivery)


async def _own_member(
    loaders: weakref.ref[Loaders], reader: Reader, ids: Sequence[UUID]
) -> list[Member | None]:
    """A member token reads only itself, and a widget load most of what it has: its first
    read brings its accounts, their balances and its use of rewards
    (models.members.own_state), kept in its loaders for the fields that ask next (held
    weakly: they hold this read's loader)."""
    state = await own_state(reader, clock.now())
    if state is None:
        return [None for _ in ids]
    member = state.member
    load = loaders()
    if load is not None:
        load.accounts.prime(member.id, state.accounts)
        for account, view in zip(state.accounts, state.views, strict=True):
            load.account_view.prime(account, view)
        load.usage.prime(member.id, state.usage)
        load.stock.prime(reader.tenant_id, state.stock)
    return [member if i == member.id else None for i in ids]


def present(row: V | None, what: str, key: object) -> V:
    """A row another row names, which must exist (a foreign key): its absence is a bug,
    answered as an internal error, as the unbatched `Model.get` did."""
    if row is None:
        raise LookupError(f"{what} {key} not found")
    return row


def loaders(info: strawberry.Info[Any, Any]) -> Loaders:
    """The caller's loaders (resolvers.auth.Context.loaders)."""
    found: Loaders = info.context.loaders
    return found
