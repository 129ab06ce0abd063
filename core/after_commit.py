"""What must happen once a change is committed: jobs to enqueue, live messages to publish.

The one path for side effects (DESIGN.md: "after the database transaction commits, never
inside it"):

- Domain code (models/) says what follows a change with `after_commit(effect)`, where it
  makes the change, inside or after its transaction (models.db.transactions.atomic drops
  the effects of a transaction that rolls back).
- Each entry point opens a `unit_of_work` around what it runs: a GraphQL operation
  (schema.effects), a REST request (engine.rest), a worker job (workers.settings), a CLI
  command. When that ends, the unit runs its effects in the order they were said, each
  equal effect once. An effect that fails is logged, not raised: the change is committed,
  and what must not be lost is in the database (outbox rows, batch status), which the
  relays pick up again; a live client resumes from its cursor.
- Outside any unit (a test or script calling models/ directly) effects are not run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Hashable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from core.queue import JobQueue

log = logging.getLogger(__name__)


class Effect(Protocol):
    """Something to do after commit, a frozen dataclass. Effects with the same `key` are
    one: the later is merged into the earlier (`merge`), which keeps its place."""

    @property
    def key(self) -> Hashable: ...

    def merge(self, later: Any) -> Effect: ...

    async def run(self, queue: JobQueue, broker: Any | None) -> None: ...


class Once:
    """For effects that merge with nothing but their equal: the key is the effect itself."""

    @property
    def key(self) -> Hashable:
        return self

    def merge(self, later: Any) -> Any:
        return self


class UnitOfWork:
    """The effects one operation said, run when it ends (`unit_of_work`)."""

    def __init__(self, queue: JobQueue, broker: Any | None, *, query: bool = False) -> None:
        self.queue = queue
        self.broker = broker
        # A GraphQL query: nothing it does changes what its resolvers read, so they may
        # share their reads for as long as it runs (schema.loaders).
        self.query = query
        self._effects: dict[Hashable, Effect] = {}  # by key, in the order first said
        # What the operation read once and may read again (core.cache, where no cache
        # serves): the operation's own, gone with it.
        self.memo: dict[Hashable, Any] = {}

    def add(self, effect: Effect) -> None:
        earlier = self._effects.get(effect.key)
        self._effects[effect.key] = effect if earlier is None else earlier.merge(effect)

    @property
    def effects(self) -> list[Effect]:
        return list(self._effects.values())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Effects said inside are dropped if the block raises (its transaction rolled back)."""
        before = dict(self._effects)
        try:
            yield
        except BaseException:
            self._effects = before
            raise

    async def run(self) -> None:
        effects, self._effects = list(self._effects.values()), {}
        for effect in effects:
            try:
                await effect.run(self.queue, self.broker)
            except Exception:
                log.exception("after-commit effect %r failed", effect)


_current: ContextVar[UnitOfWork | None] = ContextVar("gamify_unit_of_work", default=None)


def after_commit(effect: Effect) -> None:
    """Run `effect` when the current operation ends (not at all outside a unit of work)."""
    unit = _current.get()
    if unit is not None:
        unit.add(effect)


def current_unit() -> UnitOfWork | None:
    return _current.get()


@contextlib.asynccontextmanager
async def unit_of_work(
    queue: JobQueue, broker: Any | None, *, query: bool = False
) -> AsyncIterator[UnitOfWork]:
    """Collect the effects of what runs inside, and run them when it ends, also when it
    ended in an error (what it committed before the error is committed)."""
    unit = UnitOfWork(queue, broker, query=query)
    token = _current.set(unit)
    try:
        yield unit
    finally:
        _current.reset(token)
        await unit.run()
