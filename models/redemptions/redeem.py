"""Redeeming a reward: every check and every effect in one transaction.

A plain redemption on PostgreSQL is one statement committed on its own
(models.redemptions.one_statement). When the process has the reward cached (the live
catalog and the tenant's facts, core.cache) that statement is all of it: nothing is read
first, and the statement checks what a cache cannot know as it is now (the member, the
points, the stock); if it changes nothing, the reward and the member are read and the
general way says why. Everything else, and whatever that way cannot do, goes
the general way below, in a transaction. Its order: idempotency key, account (locked),
member usage, the redemption's rows, and the reward's stock last, so the hot row of a
popular reward is held for the shortest time; the rows ride on the stock's UPDATE
(models.db.bulk_statements.PendingRows). Each limit is a conditional UPDATE: zero rows
changed means refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from core import clock
from core.errors import InvalidInput, NotFound
from models.catalog.code_draws import announce_low_stock, draw_codes, fulfilment
from models.catalog.code_pools import free_at_least
from models.catalog.eligibility import Ineligibility, catalog_gate, refusal, usage_gate
from models.catalog.reads import cached_live_reward, reward_to_redeem
from models.catalog.tables import CodePool, MemberRewardUsage, Reward
from models.db.bulk_statements import PendingRows
from models.db.guarded_updates import GuardedAdd
from models.db.idempotency import claim_key, replayed_result, request_fingerprint, validate_key
from models.db.transactions import atomic
from models.live.effects import redemption_changed
from models.members.tables import Member, Tier
from models.pointmaster.forwards import MasterLink, master_link
from models.pointmaster.redemption_forwards import forward_spending, master_owns
from models.points.grants import settle_account
from models.points.ledger import debit_settled, lock_account, post_entry
from models.points.tables import LedgerEntry, LedgerSource, PointAccount
from models.redemptions.lifecycle import announce_status_change
from models.redemptions.one_statement import (
    Claim,
    fits_one_statement,
    redeem_in_one_statement,
)
from models.redemptions.records import first_event_fields, new_redemption
from models.redemptions.tables import (
    Redemption,
    RedemptionEvent,
    RedemptionEventKind,
    RedemptionStatus,
)
from models.tenancy.facts import tenant_facts
from models.webhooks.catalogue import low_stock
from models.webhooks.outbox import Announcement, announce
from models.webhooks.payloads import reward_redeemed
from models.webhooks.tables import PayloadFormat, WebhookEvent

MAX_QUANTITY = 100


@dataclass(frozen=True)
class RedeemRequest:
    tenant_id: UUID
    member_id: UUID
    reward_id: UUID
    quantity: int = 1
    idempotency_key: str | None = None
    actor: str = "system"


@dataclass(frozen=True)
class Redeemed:
    redemption: Redemption
    replayed: bool = False  # an earlier request with the same idempotency key


async def redeem(req: RedeemRequest) -> Redemption:
    return (await redeem_with_effects(req)).redemption


async def redeem_with_effects(req: RedeemRequest, member: Member | None = None) -> Redeemed:
    """Redeem; after commit, webhooks are sent and live subscribers told (core.after_commit)."""
    if not 1 <= req.quantity <= MAX_QUANTITY:
        raise InvalidInput(f"Quantity must be 1-{MAX_QUANTITY}", field="quantity")
    key = validate_key(req.idempotency_key)
    scope = f"redeem:{req.member_id}"
    fingerprint = request_fingerprint(req.reward_id, req.quantity)
    if key:
        earlier = await replayed_result(req.tenant_id, scope, key, fingerprint)
        if earlier:
            return Redeemed(await Redemption.get(id=earlier), replayed=True)
    claim = Claim(scope, key, fingerprint) if key else None
    try:
        return await _redeem(req, member, claim)
    except IntegrityError:
        if key:
            earlier = await replayed_result(req.tenant_id, scope, key, fingerprint)
            if earlier:
                return Redeemed(await Redemption.get(id=earlier), replayed=True)
        raise


async def _redeem(req: RedeemRequest, member: Member | None, claim: Claim | None) -> Redeemed:
    """The redemption, the quickest way that can do it."""
    redemption_id = uuid4()
    now = clock.now()
    # A plain redemption of a reward in the cached catalog: one statement, which reads the
    # member itself, and nothing read before it.
    cached = await _plain_in_cache(req, now)
    if cached is not None:
        done = await redeem_in_one_statement(req, cached, redemption_id, now, claim)
        if done is not None:
            return Redeemed(done)
    # Its currency, tenant and code pool come along (one statement): they decide the
    # point mode and how it is fulfilled, and the webhook payloads need them. So does the
    # member, unless the caller has read it.
    known = member is not None and (member.id, member.tenant_id) == (req.member_id, req.tenant_id)
    reward, read = await reward_to_redeem(
        req.tenant_id, req.reward_id, None if known else req.member_id
    )
    member = member if known else read
    if member is None:
        raise NotFound("Member not found", field="memberId")
    if reward is None:
        raise NotFound("Reward not found", field="rewardId")
    now = clock.now()
    # A reward with a code pool is fulfilled by the redemption itself, with drawn codes.
    pool: CodePool | None = reward.code_pool  # None: select_related found no pool
    left = int(await free_at_least(pool.id, 1, now)) if pool else None
    await _check_catalog_gate(reward, member, now, left)
    link = None
    if reward.point_cost > 0 and master_owns(reward.definition, reward.tenant.point_mode):
        link = await master_link(req.tenant_id, reward.tenant.slug)  # refused if unsendable
    # The one-statement way, unless it was tried (it found the account unfit or undid
    # itself, or the member missing: the general way says why).
    tried = cached is not None
    plain = not (link or pool or _counts_usage(reward))
    if not tried and plain and await fits_one_statement(req, reward):
        done = await redeem_in_one_statement(req, reward, redemption_id, now, claim, member)
        if done is not None:
            return Redeemed(done)
        tried = True
    async with atomic() as conn:
        if claim is not None:
            await claim_key(
                conn, req.tenant_id, claim.scope, claim.key, claim.fingerprint, redemption_id
            )
        return await _redeem_in(
            conn, req, reward, member, redemption_id, link, pool, settled_first=not tried
        )


async def _plain_in_cache(req: RedeemRequest, now: datetime) -> Reward | None:
    """The reward as the cached catalog holds it, when it is plainly redeemable as far as
    the cache tells (live and available, no tier, usage limit, cooldown, code pool or point
    master, and `fits_one_statement`); None otherwise, and when nothing is cached. The
    statement checks the rest as things are now: the member, the points and the stock."""
    reward = await cached_live_reward(req.tenant_id, req.reward_id)
    if reward is None or reward.min_tier_id is not None:
        return None
    if _counts_usage(reward):
        return None
    if catalog_gate(reward, None, None, now) is not None:  # its stock as it was: read it anew
        return None
    facts = await tenant_facts(req.tenant_id)
    definition = facts.definitions.get(reward.definition_id)
    if definition is None or reward.id in facts.code_pools:
        return None
    if master_owns(definition, facts.point_mode):
        return None
    return reward if await fits_one_statement(req, reward) else None


def _counts_usage(reward: Reward) -> bool:
    """Whether redeeming it counts the member's use (a usage limit or a cooldown)."""
    return reward.per_member_limit is not None or bool(reward.cooldown_seconds)


async def _check_catalog_gate(
    reward: Reward, member: Member, now: datetime, codes_left: int | None
) -> None:
    member_tier = await Tier.get_or_none(id=member.tier_id) if member.tier_id else None
    min_tier = await Tier.get_or_none(id=reward.min_tier_id) if reward.min_tier_id else None
    gate = catalog_gate(reward, member_tier, min_tier, now, codes_left)
    if gate is not None:
        raise refusal(gate)


async def _redeem_in(
    conn: BaseDBAsyncClient,
    req: RedeemRequest,
    reward: Reward,
    member: Member,
    redemption_id: UUID,
    link: MasterLink | None,
    pool: CodePool | None = None,
    *,
    settled_first: bool = True,
) -> Redeemed:
    """`link`: the point master owns the points; the deduction is forwarded to it.
    `pool`: the reward's codes; the redemption draws its own and is FULFILLED at once.
    `settled_first`: try the one-UPDATE debit of an account with nothing to settle first
    (not after the one-statement way found the account unfit)."""
    now = clock.now()
    cost = reward.point_cost * req.quantity
    description = f"Redeemed {req.quantity} x {reward.name}"
    # New rows wait for the next statement (on PostgreSQL, the stock's guarded UPDATE).
    pending = PendingRows()
    account: PointAccount | None
    entry: LedgerEntry | None
    debited = None
    if cost > 0 and settled_first:
        debited = await debit_settled(
            conn,
            req.member_id,
            reward.definition_id,
            cost,
            LedgerSource.REDEMPTION,
            description=description,
            actor=req.actor,
            redemption_id=redemption_id,
            at=now,
        )
    if debited is not None:
        account, entry = debited
        balance_before = account.balance + cost
        pending.add(entry)
    else:
        account, entry, balance_before = await _debit(
            conn, req, reward, redemption_id, cost, description, now
        )
    if _counts_usage(reward):
        await _count_usage(conn, reward, req, now)
    redemption = new_redemption(redemption_id, member, reward, req.quantity, now)
    pending.add(redemption)
    forwarded = None
    if link is not None and entry is not None:
        await pending.write(conn)  # the forward refers to the redemption
        forwarded = await forward_spending(conn, link, redemption, member, reward, description, now)
    events = [
        RedemptionEvent(**fields)
        for fields in first_event_fields(
            redemption,
            member,
            reward,
            req.actor,
            balance_before=balance_before,
            balance_after=account.balance if account else 0,
            entry_id=entry.id if entry else None,
            forwarded_id=forwarded.id if forwarded else None,
        )
    ]
    if pool is not None:
        await pending.write(conn)  # the drawn codes refer to the redemption
        events.append(await _fulfil_from_pool(conn, pool, redemption, req.actor, now))
    pending.add(*events)
    stock_left = None
    if reward.stock is None:
        await pending.write(conn)
    else:
        stock_left = await pending.write(
            conn, then=GuardedAdd(Reward, "stock", reward.id, -req.quantity)
        )
        if stock_left is None:
            raise refusal(Ineligibility.OUT_OF_STOCK)
    await _announce(conn, redemption, member, reward, stock_left, now)
    if pool is not None:
        await announce_status_change(conn, redemption, RedemptionStatus.REDEEMED, None, now)
        await announce_low_stock(conn, pool, now)
    redemption_changed(req.tenant_id, redemption_id, now)
    return Redeemed(redemption)


async def _debit(
    conn: BaseDBAsyncClient,
    req: RedeemRequest,
    reward: Reward,
    redemption_id: UUID,
    cost: int,
    description: str,
    now: datetime,
) -> tuple[PointAccount | None, LedgerEntry | None, int]:
    """The general way: the account locked and settled (due pending or expiring points),
    then the posting; refused when the points are not there. Returns the account, the
    entry (None for a free reward) and the balance before."""
    account = await lock_account(conn, req.member_id, reward.definition_id)
    if account is None and cost > 0:
        raise refusal(Ineligibility.INSUFFICIENT_POINTS)
    if account is not None:
        await settle_account(conn, account, now)
    balance_before = account.balance if account else 0
    entry = None
    if cost > 0:
        assert account is not None
        entry = await post_entry(
            conn,
            account,
            -cost,
            LedgerSource.REDEMPTION,
            description=description,
            actor=req.actor,
            redemption_id=redemption_id,
            at=now,
        )
        if entry is None:
            raise refusal(Ineligibility.INSUFFICIENT_POINTS)
    return account, entry, balance_before


async def _announce(
    conn: BaseDBAsyncClient,
    redemption: Redemption,
    member: Member,
    reward: Reward,
    stock_left: int | None,
    now: datetime,
) -> None:
    """Outbox rows for the tenant's `redemption.created` webhooks, and `reward.low_stock`
    when this redemption took the stock below the reward's threshold, in this transaction."""

    def payload_for(fmt: PayloadFormat) -> dict[str, Any]:
        return reward_redeemed(
            fmt,
            tenant=reward.tenant,
            redemption=redemption,
            member=member,
            reward=reward,
            definition=reward.definition,
            stock_left=stock_left,
            sent_at=now,
        )

    announcements = [
        Announcement(WebhookEvent.REDEMPTION_CREATED.value, payload_for, redemption.id)
    ]
    threshold = reward.low_stock_threshold
    if stock_left is not None and threshold is not None:
        if stock_left < threshold <= stock_left + redemption.quantity:  # fell below it now
            body = low_stock(reward, stock_left, threshold, "stock", now)
            announcements.append(
                Announcement(WebhookEvent.REWARD_LOW_STOCK.value, lambda _fmt: body)
            )
    await announce(conn, redemption.tenant_id, announcements, now=now)


async def _count_usage(
    conn: BaseDBAsyncClient, reward: Reward, req: RedeemRequest, now: object
) -> None:
    await MemberRewardUsage.bulk_create(
        [MemberRewardUsage(id=uuid4(), member_id=req.member_id, reward_id=reward.id)],
        ignore_conflicts=True,
        using_db=conn,
    )
    query = MemberRewardUsage.filter(member_id=req.member_id, reward_id=reward.id)
    if reward.per_member_limit is not None:
        query = query.filter(redeemed_count__lte=reward.per_member_limit - req.quantity)
    if reward.cooldown_seconds:
        since = clock.now() - timedelta(seconds=reward.cooldown_seconds)
        query = query.filter(Q(last_redeemed_at__isnull=True) | Q(last_redeemed_at__lte=since))
    changed = await query.using_db(conn).update(
        redeemed_count=F("redeemed_count") + req.quantity, last_redeemed_at=now
    )
    if not changed:
        usage = (
            await MemberRewardUsage.filter(member_id=req.member_id, reward_id=reward.id)
            .using_db(conn)
            .first()
        )
        raise refusal(
            usage_gate(reward, usage, req.quantity, clock.now()) or Ineligibility.COOLDOWN
        )


async def _fulfil_from_pool(
    conn: BaseDBAsyncClient, pool: CodePool, redemption: Redemption, actor: str, now: datetime
) -> RedemptionEvent:
    """Draw the redemption's codes and fulfil it with them (no round trip to the tenant);
    OUT_OF_STOCK when the pool has too few left. The codes stay off the timeline."""
    codes = await draw_codes(conn, pool.id, redemption.id, redemption.quantity, now)
    if len(codes) < redemption.quantity:
        raise refusal(Ineligibility.OUT_OF_STOCK)
    changes = {
        "status": RedemptionStatus.FULFILLED,
        "fulfillment_data": fulfilment(codes),
        "fulfilled_at": now,
    }
    await Redemption.filter(id=redemption.id).using_db(conn).update(**changes)
    for name, value in changes.items():
        setattr(redemption, name, value)
    return RedemptionEvent(
        tenant_id=redemption.tenant_id,
        redemption_id=redemption.id,
        kind=RedemptionEventKind.STATUS_CHANGED,
        message="REDEEMED -> FULFILLED: a code from the reward's pool",
        from_status=RedemptionStatus.REDEEMED,
        to_status=RedemptionStatus.FULFILLED,
        data={"via": "CODE_POOL", "codes": len(codes)},
        actor=actor,
        created_at=now,
    )
