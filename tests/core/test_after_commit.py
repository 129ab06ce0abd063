"""The unit of work: effects said during an operation run once when it ends, merged by
key, dropped with a transaction that rolls back, and never fail the operation."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.after_commit import after_commit, unit_of_work
from core.queue import JobQueue, NoQueue
from models.db.transactions import atomic
from models.tenancy.tables import Tenant


@dataclass(frozen=True)
class Told:
    """An effect that records what it was told into `log` when it runs."""

    topic: str
    items: frozenset[str]
    log: list[tuple[str, frozenset[str]]] = field(compare=False, hash=False)

    @property
    def key(self) -> Hashable:
        return self.topic

    def merge(self, later: Told) -> Told:
        return Told(self.topic, self.items | later.items, self.log)

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        if self.topic == "broken":
            raise RuntimeError("Redis went away")
        self.log.append((self.topic, self.items))


async def test_effects_run_when_the_unit_ends_merged_by_key_in_first_said_order() -> None:
    log: list[tuple[str, frozenset[str]]] = []
    async with unit_of_work(NoQueue(), None):
        after_commit(Told("balances", frozenset({"a"}), log))
        after_commit(Told("deliver", frozenset({"d1"}), log))
        after_commit(Told("balances", frozenset({"b"}), log))
        assert log == []  # nothing runs before the operation ends
    assert log == [("balances", frozenset({"a", "b"})), ("deliver", frozenset({"d1"}))]


async def test_outside_a_unit_nothing_runs() -> None:
    log: list[tuple[str, frozenset[str]]] = []
    after_commit(Told("balances", frozenset({"a"}), log))
    async with unit_of_work(NoQueue(), None):
        pass
    assert log == []


async def test_a_failing_effect_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, frozenset[str]]] = []
    async with unit_of_work(NoQueue(), None):
        after_commit(Told("broken", frozenset(), log))
        after_commit(Told("deliver", frozenset({"d1"}), log))
    assert log == [("deliver", frozenset({"d1"}))]
    assert "after-commit effect" in caplog.text


async def test_effects_of_an_operation_that_failed_after_its_commit_still_run() -> None:
    log: list[tuple[str, frozenset[str]]] = []
    with pytest.raises(ValueError):
        async with unit_of_work(NoQueue(), None):
            after_commit(Told("deliver", frozenset({"d1"}), log))
            raise ValueError("the response could not be built")
    assert log == [("deliver", frozenset({"d1"}))]


async def test_a_rolled_back_transaction_takes_its_effects_and_its_rows_with_it(db: str) -> None:
    log: list[tuple[str, frozenset[str]]] = []
    async with unit_of_work(NoQueue(), None):
        after_commit(Told("balances", frozenset({"kept"}), log))
        with pytest.raises(RuntimeError):
            async with atomic() as conn:
                await Tenant.create(name="Gone", slug="gone-tenant", using_db=conn)
                after_commit(Told("balances", frozenset({"rolled-back"}), log))
                after_commit(Told("deliver", frozenset({"rolled-back"}), log))
                raise RuntimeError("refused after the outbox row was written")
        async with atomic() as conn:
            await Tenant.create(name="Kept", slug="kept-tenant", using_db=conn)
            after_commit(Told("deliver", frozenset({"committed"}), log))
    assert log == [("balances", frozenset({"kept"})), ("deliver", frozenset({"committed"}))]
    assert not await Tenant.exists(slug="gone-tenant")
