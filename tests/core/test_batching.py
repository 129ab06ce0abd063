"""Group commit (core/batching.py): what webhook workers write and API processes count goes through it."""

from __future__ import annotations

import asyncio

from core.batching import Batcher


class Doubler:
    """A flush that writes all or nothing: it refuses a whole batch holding a negative."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)  # a round trip to the database
        if any(i < 0 for i in items):
            raise ValueError(f"refused {items}")
        self.batches.append(items)
        return [2 * i for i in items]


async def test_items_submitted_together_are_written_in_one_flush() -> None:
    # given
    flush = Doubler()
    batcher = Batcher(flush)
    # when three jobs submit in the same loop iteration, and two more while that flush runs
    first = [asyncio.create_task(batcher.submit(i)) for i in (1, 2, 3)]
    await asyncio.sleep(0.001)
    later = [asyncio.create_task(batcher.submit(i)) for i in (4, 5)]
    # then each gets its own answer; the late ones shared the next flush
    assert await asyncio.gather(*first, *later) == [2, 4, 6, 8, 10]
    assert flush.batches == [[1, 2, 3], [4, 5]]


async def test_one_refused_item_does_not_fail_the_others() -> None:
    # given
    flush = Doubler()
    batcher = Batcher(flush)
    # when one item of a batch makes the write fail
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, -1, 2)), return_exceptions=True)
    # then the others are written, each alone, and only its job sees the error
    assert results[0] == 2 and results[2] == 4
    assert isinstance(results[1], ValueError)
    assert flush.batches == [[1], [2]]


async def test_a_busy_batcher_waits_for_company() -> None:
    # given a batcher that lingers (2 s, 200 times the gaps below) once batches have company
    flush = Doubler()
    batcher = Batcher(flush, linger=2.0)
    await asyncio.gather(batcher.submit(1), batcher.submit(2))  # busy from now on
    # when items arrive 10 ms apart
    tasks = []
    for i in range(3):
        tasks.append(asyncio.create_task(batcher.submit(10 + i)))
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    # then they went in one flush
    assert flush.batches[1:] == [[10, 11, 12]]


async def test_a_lone_item_is_not_held_back() -> None:
    # given a quiet batcher that would linger 60 s if it were busy
    flush = Doubler()
    batcher = Batcher(flush, linger=60.0)
    # when one item comes, then it is written without that wait
    async with asyncio.timeout(30):
        assert await batcher.submit(7) == 14
    # and after a lone batch the batcher is still quiet
    async with asyncio.timeout(30):
        assert await batcher.submit(8) == 16
