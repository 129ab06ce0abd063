"""Tier job: re-evaluate members whose tier review date came, end overrides that ran out."""

from __future__ import annotations

from typing import Any

from models.tiers.reviews import review_due


async def review_tiers(ctx: dict[str, Any]) -> int:
    """Returns how many members changed tier. Their webhooks and live messages follow the
    commit (the job is one unit of work)."""
    return (await review_due()).changed
