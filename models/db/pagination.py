"""Keyset pagination, newest first, on (created_at, id)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.errors import InvalidInput
from models.db.codes import DbCode

MAX_PAGE = 100
T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    end_cursor: str | None
    has_next_page: bool


def encode_cursor(created_at: datetime, row_id: object) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            raise ValueError("cursor time without a zone")
        return moment, str(UUID(row_id))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Invalid cursor", field="after", code=DbCode.INVALID_CURSOR) from exc


def _page_size(first: int | None) -> int:
    limit = MAX_PAGE if first is None else first
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"first must be 1-{MAX_PAGE}", field="first", code=DbCode.INVALID_PAGE_SIZE
        )
    return limit


async def paginate(query: QuerySet[T], first: int | None, after: str | None) -> Page[T]:
    limit = _page_size(first)
    if after:
        stamp, row_id = decode_cursor(after)
        query = query.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, id__lt=row_id))
    rows = await query.order_by("-created_at", "-id").limit(limit + 1)
    return _page(rows, limit)


def paginate_rows(rows: Sequence[T], first: int | None, after: str | None) -> Page[T]:
    """`paginate` over rows already read in its order (newest first): the same pages."""
    limit = _page_size(first)
    if after:
        stamp, row_id = decode_cursor(after)
        cut = (stamp, UUID(row_id))
        rows = [r for r in rows if (r.created_at, r.pk) < cut]  # type: ignore[attr-defined]
    return _page(rows[: limit + 1], limit)


def _page(rows: Sequence[T], limit: int) -> Page[T]:
    items = list(rows[:limit])
    last = items[-1] if items else None
    return Page(
        items=items,
        end_cursor=encode_cursor(last.created_at, last.pk) if last else None,  # type: ignore[attr-defined]
        has_next_page=len(rows) > limit,
    )
