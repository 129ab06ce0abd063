"""What a caller may read (the domains' `reads` modules, cut to a models.tenancy.readers.Reader):
the batches the schema's loaders use answer a foreign id with None, a member only its own
rows, and each key its own rows."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from tortoise.models import Model

from core import clock
from core.errors import NotFound
from models.catalog.code_pools import attach_pool
from models.catalog.reads import reward_to_redeem, rewards_by_id, rewards_for
from models.catalog.tables import Reward
from models.db.plain_reads import tenant_row
from models.members.reads import member_named, members_by_id, tiers_by_id
from models.members.tables import Member
from models.points.awards import AwardRequest, award_points
from models.points.grants import account_view
from models.points.reads import account_views, accounts_by_member, grants_by_account, ledger_for
from models.points.tables import GrantStatus, LedgerSource, PointAccount
from models.redemptions.reads import redemptions_for, timelines
from models.redemptions.redeem import RedeemRequest, redeem
from models.tenancy.readers import Reader
from tests.factories import make_member, make_reward, make_tenant, make_tier


def _values(row: Model | None) -> dict[str, object] | None:
    return None if row is None else {f: getattr(row, f) for f in row._meta.fields_db_projection}


async def _grant(tenant_id: UUID, member_id: UUID, amount: int, days: int) -> None:
    await award_points(
        AwardRequest(
            tenant_id=tenant_id,
            member_id=member_id,
            definition_id=None,
            amount=amount,
            source=LedgerSource.PURCHASE,
            valid_to=clock.now() + timedelta(days=days),
        )
    )


async def test_a_foreign_id_loads_as_none(db: str) -> None:
    # given
    a, b = (await make_tenant()).tenant.id, (await make_tenant()).tenant.id
    ours, theirs = await make_reward(a), await make_reward(b)
    our_member, their_member = await make_member(a), await make_member(b)
    our_tier, their_tier = await make_tier(a, "Gold", 1), await make_tier(b, "Gold", 1)
    reader = Reader(a)

    # when
    rewards = await rewards_by_id(reader, [theirs.id, ours.id, theirs.id])
    members = await members_by_id(reader, [their_member.id, our_member.id])
    tiers = await tiers_by_id(reader, [their_tier.id, our_tier.id])

    # then
    assert [r and r.id for r in rewards] == [None, ours.id, None]
    assert [m and m.id for m in members] == [None, our_member.id]
    assert [t and t.id for t in tiers] == [None, our_tier.id]


async def test_a_member_reads_only_its_own_rows(db: str) -> None:
    # given
    tid = (await make_tenant()).tenant.id
    me, other = await make_member(tid, points=500), await make_member(tid, points=500)
    reward = await make_reward(tid)
    mine = await redeem(RedeemRequest(tenant_id=tid, member_id=me.id, reward_id=reward.id))
    theirs = await redeem(RedeemRequest(tenant_id=tid, member_id=other.id, reward_id=reward.id))
    reader = Reader(tid, me.id)

    # when
    redemptions = await redemptions_for(reader)
    events = await timelines(reader, [theirs.id, mine.id])
    members = await members_by_id(reader, [other.id, me.id])
    with pytest.raises(NotFound):
        await member_named(reader, other.id, None)
    with pytest.raises(NotFound):
        await member_named(reader, None, other.external_user_id)
    named_nobody = await member_named(reader, None, None)
    ledger_members = {
        a.member_id
        for a in await PointAccount.filter(
            id__in=await ledger_for(reader).values_list("account_id", flat=True)
        )
    }

    # then
    assert [r.id for r in redemptions] == [mine.id]
    assert events[0] == [] and events[1] and {e.redemption_id for e in events[1]} == {mine.id}
    assert [m and m.id for m in members] == [None, me.id]
    assert named_nobody is not None and named_nobody.id == me.id
    assert ledger_members == {me.id}


async def test_members_see_the_live_catalog_and_backends_all_of_it(db: str) -> None:
    # given
    tid = (await make_tenant()).tenant.id
    member = await make_member(tid)
    live, disabled = await make_reward(tid), await make_reward(tid, enabled=False)

    # when
    for_member = {r.id for r in await rewards_for(Reader(tid, member.id))}
    for_backend = {r.id for r in await rewards_for(Reader(tid))}
    # a redemption's reward stays readable to its member however the catalog changes
    (named,) = await rewards_by_id(Reader(tid, member.id), [disabled.id])

    # then
    assert for_member == {live.id}
    assert for_backend == {live.id, disabled.id}
    assert named is not None and named.id == disabled.id


async def test_grants_are_listed_per_account_up_to_the_limit_in_one_read_or_two(db: str) -> None:
    # given: one account with six grants, then one with one, one with none
    tid = (await make_tenant()).tenant.id
    busy, quiet, empty = [await make_member(tid) for _ in range(3)]
    for days in range(6):
        await _grant(tid, busy.id, 10 + days, 40 + days)
    await _grant(tid, quiet.id, 7, 40)
    await make_member(tid, points=1)  # an account outside the asked ones
    empty_account = await award_points(
        AwardRequest(
            tenant_id=tid,
            member_id=empty.id,
            definition_id=None,
            amount=3,
            source=LedgerSource.PURCHASE,
        )
    )
    reader = Reader(tid)
    (busy_account,), (quiet_account,) = await accounts_by_member(reader, [busy.id, quiet.id])
    all_statuses: tuple[GrantStatus, ...] = ()
    keys = [
        (busy_account.id, all_statuses),
        (quiet_account.id, all_statuses),
        (empty_account.account.id, all_statuses),
        (busy_account.id, (GrantStatus.EXPIRED,)),
    ]

    # when: a limit of 2 cuts the first read (3 accounts x 2 < 7 grants, the busy
    # account's first): the quiet one is read again alone
    listed = await grants_by_account(reader, keys, limit=2)

    # then
    assert [[g.amount for g in grants] for grants in listed] == [[10, 11], [7], [], []]


async def test_account_views_in_one_batch_equal_each_accounts_own_view(db: str) -> None:
    # given
    tid = (await make_tenant()).tenant.id
    members = [await make_member(tid, points=100) for _ in range(3)]
    await _grant(tid, members[0].id, 20, 10)  # expiring soon: the view reads its grants
    await _grant(tid, members[1].id, 30, 90)
    reader = Reader(tid)
    accounts = [
        a for group in await accounts_by_member(reader, [m.id for m in members]) for a in group
    ]

    # when
    batched = await account_views(reader, accounts)

    # then
    assert batched == [await account_view(a) for a in accounts]
    assert [v.expiring_soon for v in batched] == [20, 0, 0]


async def test_a_redemptions_plain_reads_are_the_rows_the_orm_reads(db: str) -> None:
    """The fixed-text reads of a redemption (models.db.plain_reads) build the models the
    query builder builds, related rows included, and read only the tenant's rows."""
    # given a reward with a code pool and one without, a member, and another tenant
    tid, other = (await make_tenant()).tenant.id, (await make_tenant()).tenant.id
    pooled, plain = await make_reward(tid, stock=7), await make_reward(tid)
    await attach_pool(tid, pooled.id, low_stock_threshold=2)
    member = await make_member(tid, points=100)

    for reward in (pooled, plain):
        # when
        fast, along = await reward_to_redeem(tid, reward.id, member.id)
        orm = await Reward.get(id=reward.id).select_related("definition", "tenant", "code_pool")

        # then the same reward, currency, tenant and pool (or none), and the same member
        assert fast is not None and along is not None
        assert _values(fast) == _values(orm)
        for related in ("definition", "tenant", "code_pool"):
            assert _values(getattr(fast, related)) == _values(getattr(orm, related)), related
        assert _values(along) == _values(await Member.get(id=member.id))
    assert (await reward_to_redeem(tid, pooled.id))[0].code_pool is not None  # type: ignore[union-attr]
    assert _values(await tenant_row(Member, tid, member.id)) == _values(
        await Member.get(id=member.id)
    )
    # each is read without the other: a member not asked for, an unknown reward or member
    assert (await reward_to_redeem(tid, plain.id))[1] is None
    assert (await reward_to_redeem(tid, uuid4(), member.id))[0] is None
    assert _values((await reward_to_redeem(tid, uuid4(), member.id))[1]) == _values(along)
    assert (await reward_to_redeem(tid, plain.id, uuid4()))[1] is None
    # another tenant's ids read as nothing
    assert await reward_to_redeem(other, plain.id, member.id) == (None, None)
    assert await tenant_row(Member, other, member.id) is None
