"""Computing a member's tier from activity.

- Upgrade at once: after points are earned (`points_earned`, in the posting's
  transaction), a member whose activity in the policy's window reaches a better tier's
  threshold gets it, and its review date is set a review period ahead.
- Downgrade only at the review date (`review_due`, the tier cron): a member that no longer
  qualifies keeps the tier for the grace period (if any), then gets the tier its activity
  qualifies for. A member that still qualifies keeps the tier for another period.
- A manual override (models.tiers.overrides) is left alone until cleared or run out.

Every change writes a TierChange, a `member.tier_changed` outbox row and a live balances
message (which carries the tier) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Sum

from core import clock
from models.live.effects import balances_changed
from models.members.tables import Member, Tier
from models.members.tier_events import tier_changed
from models.points.expiry import add_months
from models.points.tables import LedgerEntry, LedgerSource, PointAccount, PointDefinition
from models.tenancy.facts import tenant_facts
from models.tiers.tables import TierBasis, TierChange, TierChangeReason, TierPolicy

EARNING = {
    TierBasis.POINTS_EARNED: (
        LedgerSource.PURCHASE,
        LedgerSource.ADJUSTMENT,
        LedgerSource.MANUAL,
        LedgerSource.AUTOMATION,
        LedgerSource.BONUS,
        LedgerSource.OTHER,
    ),
    TierBasis.PURCHASE_POINTS: (LedgerSource.PURCHASE,),
}


async def active_policy(tenant_id: UUID) -> TierPolicy | None:
    """The tenant's enabled policy (from the tenant's cached facts: a posting of a tenant
    without one pays no query)."""
    return (await tenant_facts(tenant_id)).tier_policy


async def counted_definition(policy: TierPolicy) -> UUID | None:
    """The currency whose activity the policy counts: its own or the tenant's default."""
    if policy.definition_id is not None:
        return policy.definition_id
    definitions = (await tenant_facts(policy.tenant_id)).definitions.values()
    return next((d.id for d in definitions if d.is_default), None)


async def activity(
    conn: BaseDBAsyncClient, policy: TierPolicy, member_id: UUID, now: datetime
) -> int:
    """Points earned (by the policy's basis) in the window ending `now`, net of returns:
    earned postings count, expiries and spending do not."""
    definition_id = await counted_definition(policy)
    if definition_id is None:
        return 0
    since = add_months(now, -policy.window_months)
    earned = Q(source__in=list(EARNING[TierBasis(policy.basis)]), amount__gt=0) | Q(
        source=LedgerSource.RETURN
    )
    accounts = (
        await PointAccount.filter(member_id=member_id, definition_id=definition_id)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    if not accounts:
        return 0
    totals = (
        await LedgerEntry.filter(
            earned,
            account_id=accounts[0],
            created_at__gt=since,
            created_at__lte=now,
        )
        .using_db(conn)
        .annotate(total=Sum("amount"))
        .values_list("total", flat=True)
    )
    return max(0, int(totals[0] or 0)) if totals else 0  # type: ignore[arg-type]


async def current_activity(tenant_id: UUID, member_id: UUID) -> int | None:
    """The member's activity now, as the tenant's enabled policy counts it (None: none)."""
    policy = await active_policy(tenant_id)
    if policy is None:
        return None
    return await activity(connections.get("default"), policy, member_id, clock.now())


def qualified_tier(tiers: Sequence[Tier], value: int) -> Tier | None:
    """The best tier (highest rank) whose threshold `value` reaches; tiers without a
    threshold are given by hand only."""
    reached = [t for t in tiers if t.min_value is not None and t.min_value <= value]
    return max(reached, key=lambda t: t.rank, default=None)


def _rank(tier: Tier | None) -> int | None:
    return None if tier is None else tier.rank


def _better(a: Tier | None, b: Tier | None) -> bool:
    """Whether `a` is a better tier than `b` (no tier is the worst)."""
    if a is None:
        return False
    return b is None or a.rank > b.rank


def override_active(member: Member, now: datetime) -> bool:
    return member.tier_override and (
        member.tier_override_until is None or member.tier_override_until > now
    )


@dataclass(frozen=True)
class Outcome:
    change: TierChange | None
    review_at: datetime | None
    in_grace: bool


async def points_earned(
    conn: BaseDBAsyncClient,
    member: Member,
    definition: PointDefinition,
    now: datetime,
    peak: Callable[[int], int] | None = None,
) -> TierChange | None:
    """After points were posted to `definition` for `member` (same transaction): upgrade
    at once when the activity reaches a better tier. Nothing without an enabled policy.

    `peak`: for several postings at once (models.programme.event_batches), the highest
    activity right after one of them, given the activity after all of them: one posting
    at a time, that is the activity that decided."""
    policy = await active_policy(member.tenant_id)
    if policy is None or await counted_definition(policy) != definition.id:
        return None
    return (await evaluate(conn, policy, member.id, now, review=False, peak=peak)).change


def counts(policy: TierPolicy, source: LedgerSource | str, amount: int) -> bool:
    """Whether a posting counts in the policy's activity (as `activity` sums them)."""
    return LedgerSource(source) == LedgerSource.RETURN or (
        amount > 0 and LedgerSource(source) in EARNING[TierBasis(policy.basis)]
    )


async def evaluate(
    conn: BaseDBAsyncClient,
    policy: TierPolicy,
    member_id: UUID,
    now: datetime,
    *,
    review: bool,
    actor: str = "system",
    grace: bool = True,
    peak: Callable[[int], int] | None = None,
) -> Outcome:
    """Upgrade if the activity reaches a better tier; with `review` (the member's review
    date has come, or its override was cleared) also re-qualify, start the grace period
    (unless `grace` is False: an override that ends gives the computed tier at once), or
    downgrade."""
    member = await Member.filter(id=member_id).select_for_update().using_db(conn).first()
    if member is None or override_active(member, now):
        return Outcome(None, None, False)
    tiers = await Tier.filter(tenant_id=member.tenant_id).using_db(conn)
    current = next((t for t in tiers if t.id == member.tier_id), None)
    value = await activity(conn, policy, member.id, now)
    if peak is not None:
        value = peak(value)
    target = qualified_tier(tiers, value)
    next_review = _review_after(policy, now)
    if _better(target, current):
        return await _change(conn, member, current, target, TierChangeReason.UPGRADE, value, now,
                             review_at=next_review, actor=actor)  # fmt: skip
    if not review:
        if member.tier_in_grace and _rank(target) == _rank(current):
            # Qualified again inside the grace period: the tier is kept another period.
            return await _keep(conn, member, next_review)
        if current is not None and member.tier_review_at is None:
            return await _keep(conn, member, next_review)  # a tier given before the policy
        return Outcome(None, member.tier_review_at, member.tier_in_grace)
    if _rank(target) == _rank(current):
        return await _keep(conn, member, next_review if current else None)
    if grace and policy.grace_days > 0 and not member.tier_in_grace:
        grace_end = now + timedelta(days=policy.grace_days)
        await (
            Member.filter(id=member.id)
            .using_db(conn)
            .update(tier_review_at=grace_end, tier_in_grace=True)
        )
        return Outcome(None, grace_end, True)
    return await _change(conn, member, current, target, TierChangeReason.DOWNGRADE, value, now,
                         review_at=next_review if target else None, actor=actor)  # fmt: skip


def _review_after(policy: TierPolicy, now: datetime) -> datetime:
    return add_months(now, policy.review_months)


async def _keep(conn: BaseDBAsyncClient, member: Member, review_at: datetime | None) -> Outcome:
    await (
        Member.filter(id=member.id)
        .using_db(conn)
        .update(tier_review_at=review_at, tier_in_grace=False)
    )
    return Outcome(None, review_at, False)


async def _change(
    conn: BaseDBAsyncClient,
    member: Member,
    current: Tier | None,
    target: Tier | None,
    reason: TierChangeReason,
    value: int | None,
    now: datetime,
    *,
    review_at: datetime | None,
    actor: str,
    note: str = "",
    override: dict[str, object] | None = None,
) -> Outcome:
    """Move the member from `current` to `target` unless its tier changed meanwhile."""
    same_tier = Q(tier_id__isnull=True) if member.tier_id is None else Q(tier_id=member.tier_id)
    moved = (
        await Member.filter(same_tier, id=member.id)
        .using_db(conn)
        .update(
            tier_id=target.id if target else None,
            tier_review_at=review_at,
            tier_in_grace=False,
            **(override or {}),
        )
    )
    if not moved:
        return Outcome(None, member.tier_review_at, member.tier_in_grace)
    change = await record_change(
        conn, member, current, target, reason, now, activity=value, actor=actor, note=note
    )
    return Outcome(change, review_at, False)


async def tier_assigned(
    conn: BaseDBAsyncClient, member: Member, previous_tier_id: UUID | None
) -> None:
    """The tenant's backend set the member's tier (upsertMember, in its transaction): a
    MANUAL change in the history, and with an enabled policy a review date one period
    ahead (computation may still upgrade it at once; a downgrade waits for the review)."""
    if member.tier_id == previous_tier_id:
        return
    now = clock.now()
    policy = await active_policy(member.tenant_id)
    ids = [i for i in (previous_tier_id, member.tier_id) if i is not None]
    tiers = {t.id: t for t in await Tier.filter(id__in=ids).using_db(conn)}
    review_at = _review_after(policy, now) if policy and member.tier_id else None
    await (
        Member.filter(id=member.id)
        .using_db(conn)
        .update(tier_review_at=review_at, tier_in_grace=False)
    )
    await record_change(
        conn,
        member,
        tiers.get(previous_tier_id) if previous_tier_id else None,
        tiers.get(member.tier_id) if member.tier_id else None,
        TierChangeReason.MANUAL,
        now,
        actor="backend",
        note="Set by the tenant's backend (upsertMember)",
    )


async def record_change(
    conn: BaseDBAsyncClient,
    member: Member,
    current: Tier | None,
    target: Tier | None,
    reason: TierChangeReason,
    now: datetime,
    *,
    activity: int | None = None,
    actor: str = "system",
    note: str = "",
) -> TierChange:
    """The history row, the `member.tier_changed` webhook (models.members.tier_events, the
    event catalogue's body) and the live update."""
    change = TierChange(
        tenant_id=member.tenant_id,
        member_id=member.id,
        from_tier_id=current.id if current else None,
        to_tier_id=target.id if target else None,
        from_name=current.name if current else None,
        to_name=target.name if target else None,
        reason=reason,
        note=note,
        activity=activity,
        actor=actor,
        created_at=now,
    )
    await change.save(using_db=conn)
    # The webhook reads the member's new tier: the caller has just changed it.
    member.tier_id = target.id if target else None  # type: ignore[assignment]
    await tier_changed(conn, member, current.id if current else None)
    balances_changed(member.tenant_id, member.id)
    return change
