"""The bulk path's postings (models.points.bulk_postings.AccountBook): an account's entries
never go back in time along their numbers, even when an earlier chunk's postings ran ahead
of the clock (they are stamped a microsecond apart)."""

from __future__ import annotations

from datetime import UTC, datetime

from core import clock
from models.db.transactions import atomic
from models.points.bulk_postings import AccountBook
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from tests.factories import make_member, make_tenant


async def _chunk(account_ids: set[object], postings: int) -> None:
    async with atomic() as conn:
        book = await AccountBook.locked(conn, account_ids)  # type: ignore[arg-type]
        for account_id in sorted(account_ids, key=str):
            for _ in range(postings):
                book.post(
                    account_id,  # type: ignore[arg-type]
                    1,
                    LedgerSource.BALANCE_SYNC,
                    description="chunk",
                    actor="system:test",
                )
        await book.write()


async def test_entries_follow_their_numbers_when_chunks_outrun_the_clock(db: str) -> None:
    # given two members with accounts (one entry each) and a clock that stands still
    tenant = (await make_tenant()).tenant
    members = [await make_member(tenant.id, points=10) for _ in range(2)]
    accounts = {a.id for a in await PointAccount.filter(member_id__in=[m.id for m in members])}
    with clock.frozen_at(datetime(2030, 1, 1, tzinfo=UTC)):
        # when three chunks post on both accounts, the second and third on the first's heels
        for postings in (5, 3, 4):
            await _chunk(accounts, postings)

    # then each account's entries are in time order along their numbers, none equal
    for account_id in accounts:
        entries = await LedgerEntry.filter(account_id=account_id).order_by("seq")
        times = [e.created_at for e in entries]
        assert len(entries) == 1 + 5 + 3 + 4
        assert times == sorted(times) and len(set(times[1:])) == len(times) - 1, times
