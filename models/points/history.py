"""Ledger entries newest first, in the order their balances moved.

Entries sort on (created_at, seq, id), all descending. Within an account, `seq` is the
posting's number taken under the account's lock and `created_at` never goes back along
it (models.points.ledger), so every entry's balance_before is the balance_after of the entry of
that account listed after it; across accounts, entries interleave by time.
"""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.errors import InvalidInput
from models.db.codes import DbCode
from models.db.pagination import MAX_PAGE, Page
from models.points.tables import LedgerEntry


def _encode(entry: LedgerEntry) -> str:
    text = f"{entry.created_at.isoformat()}|{entry.seq}|{entry.id}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _after(cursor: str) -> Q:
    """Entries after the cursor. A cursor without a number (`time|id`, as given before
    entries were numbered) still resumes where it was, on (created_at, id)."""
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        moment = datetime.fromisoformat(parts[0])
        if moment.tzinfo is None or len(parts) not in (2, 3):
            raise ValueError("not a ledger cursor")
        row_id = str(UUID(parts[-1]))
        seq = int(parts[1]) if len(parts) == 3 else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Invalid cursor", field="after", code=DbCode.INVALID_CURSOR) from exc
    if seq is None:
        return Q(created_at__lt=moment) | Q(created_at=moment, id__lt=row_id)
    return (
        Q(created_at__lt=moment)
        | Q(created_at=moment, seq__lt=seq)
        | Q(created_at=moment, seq=seq, id__lt=row_id)
    )


async def ledger_page(
    query: QuerySet[LedgerEntry], first: int | None, after: str | None
) -> Page[LedgerEntry]:
    limit = MAX_PAGE if first is None else first
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"first must be 1-{MAX_PAGE}", field="first", code=DbCode.INVALID_PAGE_SIZE
        )
    if after:
        query = query.filter(_after(after))
    rows = await query.order_by("-created_at", "-seq", "-id").limit(limit + 1)
    items = rows[:limit]
    return Page(
        items=items,
        end_cursor=_encode(items[-1]) if items else None,
        has_next_page=len(rows) > limit,
    )
