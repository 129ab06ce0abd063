"""A few at a time per key (core/turns.py): the redemptions of a stocked reward take turns."""

from __future__ import annotations

import asyncio

import pytest

from core.turns import Turns


class Row:
    """A row that counts how many tasks work on it at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.order: list[int] = []

    async def work(self, turns: Turns, key: str, n: int) -> None:
        async with turns.of(key):
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.order.append(n)
            await asyncio.sleep(0.005)  # a statement's round trip
            self.inside -= 1


async def test_tasks_of_one_key_take_turns_in_arrival_order() -> None:
    # given
    turns, row = Turns(), Row()
    # when ten tasks want the same key at once
    await asyncio.gather(*(row.work(turns, "reward-1", n) for n in range(10)))
    # then one at a time, first come first served, and the key is forgotten afterwards
    assert row.most == 1
    assert row.order == list(range(10))
    assert len(turns) == 0


async def test_as_many_as_allowed_at_once_and_no_more() -> None:
    # given turns of two at a time
    turns, row = Turns(at_once=2), Row()
    # when ten tasks want the same key at once
    await asyncio.gather(*(row.work(turns, "reward-1", n) for n in range(10)))
    # then two at a time, in arrival order
    assert row.most == 2
    assert row.order == list(range(10))
    assert len(turns) == 0


class Holder:
    """A task that holds a key until released, then ends with `failure` if there is one."""

    def __init__(self, turns: Turns, key: str, failure: Exception | None = None) -> None:
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._hold(turns, key, failure))

    async def _hold(self, turns: Turns, key: str, failure: Exception | None) -> None:
        async with turns.of(key):
            self.held.set()
            await self.release.wait()
            if failure is not None:
                raise failure


async def test_tasks_of_other_keys_do_not_wait() -> None:
    # given a key held by a task that does not let go
    turns = Turns()
    holder = Holder(turns, "reward-1")
    await holder.held.wait()
    # when another task wants another key, then it gets it at once
    row = Row()
    async with asyncio.timeout(1):
        await row.work(turns, "reward-2", 1)
    assert len(turns) == 1  # only the held key is remembered
    holder.release.set()
    await holder.task
    assert len(turns) == 0


async def test_a_waiter_cancelled_or_failing_does_not_stall_the_others() -> None:
    # given a held key and three waiters, the second of which is cancelled, while the
    # holder fails
    turns, row = Turns(), Row()
    holder = Holder(turns, "reward-1", ValueError("the statement failed"))
    await holder.held.wait()
    waiters = [asyncio.create_task(row.work(turns, "reward-1", n)) for n in range(3)]
    await asyncio.sleep(0.01)
    waiters[1].cancel()
    holder.release.set()
    # when all have ended
    with pytest.raises(ValueError):
        await holder.task
    async with asyncio.timeout(1):
        results = await asyncio.gather(*waiters, return_exceptions=True)
    # then the others had their turn, one at a time, and nothing is left behind
    assert isinstance(results[1], asyncio.CancelledError)
    assert row.order == [0, 2]
    assert row.most == 1
    assert len(turns) == 0
