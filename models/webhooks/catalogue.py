"""Bodies of the catalogue's events beyond a redemption's (models.webhooks.payloads).

No platform GamifyEngine imitates (Xtremepush, Toolzz) defines points, tier, stock, sync
or endpoint events, so every endpoint gets these in the GAMIFY shape, whatever its
payload format: a receiver that does not know an event can ignore it by its `event`
field, and one that subscribed to it wants it. docs/webhooks.md shows each, checked by
tests/webhooks/test_event_docs.py against these builders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from models.catalog.tables import Reward
from models.members.tables import Member, Tier
from models.points.tables import LedgerEntry, LedgerSource, PointAccount, PointGrant
from models.webhooks.tables import WebhookEvent

# Which points event a posting is, by its ledger source; other sources are `earned` when
# they add points and `spent` when they take them (a purchase's points spent elsewhere).
_BY_SOURCE = {
    LedgerSource.REDEMPTION: WebhookEvent.POINTS_SPENT,
    LedgerSource.REFUND: WebhookEvent.POINTS_REFUNDED,
    LedgerSource.EXPIRY: WebhookEvent.POINTS_EXPIRED,
    LedgerSource.ADJUSTMENT: WebhookEvent.POINTS_ADJUSTED,
    LedgerSource.BALANCE_SYNC: WebhookEvent.POINTS_ADJUSTED,
    LedgerSource.MANUAL: WebhookEvent.POINTS_ADJUSTED,
}
POINTS_EVENTS = frozenset(
    {*_BY_SOURCE.values(), WebhookEvent.POINTS_EARNED, WebhookEvent.POINTS_SPENT}
)


def points_event(source: LedgerSource | str, amount: int) -> WebhookEvent:
    known = _BY_SOURCE.get(LedgerSource(source))
    if known is not None:
        return known
    return WebhookEvent.POINTS_EARNED if amount > 0 else WebhookEvent.POINTS_SPENT


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _member(member: Member) -> dict[str, Any]:
    return {"user_id": str(member.id), "external_user_id": member.external_user_id}


def points_posted(
    entry: LedgerEntry, account: PointAccount, member: Member, sent_at: datetime
) -> dict[str, Any]:
    return {
        "event": points_event(entry.source, entry.amount).value,
        "entry_id": str(entry.id),
        **_member(member),
        "definition_id": str(account.definition_id),
        "amount": entry.amount,
        "balance_before": entry.balance_before,
        "balance_after": entry.balance_after,
        "source": LedgerSource(entry.source).value,
        "description": entry.description,
        "valid_to": iso(entry.valid_to),
        "redemption_id": str(entry.redemption_id) if entry.redemption_id else None,
        "timestamp": iso(sent_at),
    }


def points_expiring_soon(
    grant: PointGrant, account: PointAccount, member: Member, sent_at: datetime
) -> dict[str, Any]:
    return {
        "event": WebhookEvent.POINTS_EXPIRING_SOON.value,
        "grant_id": str(grant.id),
        **_member(member),
        "definition_id": str(account.definition_id),
        "amount": grant.remaining,
        "expires_at": iso(grant.valid_to),
        "timestamp": iso(sent_at),
    }


def _tier(tier: Tier | None) -> dict[str, Any] | None:
    return None if tier is None else {"id": str(tier.id), "name": tier.name, "rank": tier.rank}


def tier_changed(
    member: Member, old: Tier | None, new: Tier | None, sent_at: datetime
) -> dict[str, Any]:
    return {
        "event": WebhookEvent.MEMBER_TIER_CHANGED.value,
        **_member(member),
        "old_tier": _tier(old),
        "new_tier": _tier(new),
        "timestamp": iso(sent_at),
    }


def low_stock(
    reward: Reward | UUID, remaining: int, threshold: int, source: str, sent_at: datetime
) -> dict[str, Any]:
    """`source`: "stock" (the reward's stock) or "code_pool" (its voucher codes)."""
    reward_id = reward.id if isinstance(reward, Reward) else reward
    return {
        "event": WebhookEvent.REWARD_LOW_STOCK.value,
        "reward_id": str(reward_id),
        "remaining": remaining,
        "threshold": threshold,
        "source": source,
        "timestamp": iso(sent_at),
    }


def batch_failed_items(
    batch_id: UUID,
    kind: str,
    item_count: int,
    applied_count: int,
    rejected: list[dict[str, str]],
    sent_at: datetime,
) -> dict[str, Any]:
    """`rejected`: the messages of the items refused, in item order."""
    return {
        "event": WebhookEvent.SYNC_BATCH_FAILED_ITEMS.value,
        "batch_id": str(batch_id),
        "kind": kind,
        "item_count": item_count,
        "applied_count": applied_count,
        "rejected_count": len(rejected),
        # The first rejections only: a body stays small whatever the batch's size; the
        # batch's status (REST or GraphQL) has them all.
        "rejected": rejected[:20],
        "timestamp": iso(sent_at),
    }


def endpoint_disabled(
    endpoint_id: UUID, url: str, reason: str, sent_at: datetime
) -> dict[str, Any]:
    return {
        "event": WebhookEvent.ENDPOINT_DISABLED.value,
        "endpoint_id": str(endpoint_id),
        "url": url,
        "reason": reason,
        "timestamp": iso(sent_at),
    }
