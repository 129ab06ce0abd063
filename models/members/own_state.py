"""What a member token reads of itself on a widget load, in one statement.

A member token reads only its own rows (models.tenancy.readers), and a widget load asks
for most of them at once: the member (`me`, the catalog's tier gate), its accounts and
their balances (`me.accounts`, the catalog's "enough points?"), the open grants of an
account with points due soon (pending and expiring points), its use of rewards (the
catalog's limit and cooldown), and the stock of the catalog's rewards as it is now (the
rest of the catalog is cached, models.catalog.reads). On PostgreSQL they come in one
statement, each table's rows as an array of that table's row type (asyncpg decodes them,
Tortoise builds the models as from its own SELECTs); on SQLite, one read each.

The schema's loaders (schema.loaders) read a member token's member through here and keep
the rest for the fields that ask for it next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise import connections

from models.catalog.reads import LIVE_STOCKED, live_stock
from models.catalog.tables import MemberRewardUsage
from models.db.plain_reads import model_of
from models.members.reads import members_for
from models.members.tables import Member
from models.points.grants import EXPIRING_SOON, OPEN_GRANTS, AccountView, needs_grants, view_of
from models.points.reads import accounts_for, grants_for
from models.points.tables import PointAccount, PointGrant
from models.tenancy.readers import Reader


@dataclass(frozen=True)
class OwnState:
    member: Member
    accounts: list[PointAccount]  # oldest first
    views: list[AccountView]  # of each account, as of the read
    usage: dict[UUID, MemberRewardUsage]  # by reward id
    stock: dict[UUID, int]  # of the tenant's live rewards with a stock (live_stock)


_OPEN = ", ".join(f"'{status.value}'" for status in OPEN_GRANTS)
_STATEMENT = f"""
SELECT m.*,
  ARRAY(SELECT a FROM point_account a WHERE a.tenant_id = m.tenant_id AND a.member_id = m.id
        ORDER BY a.created_at) AS own_accounts,
  ARRAY(SELECT g FROM point_grant g JOIN point_account a ON a.id = g.account_id
        WHERE a.tenant_id = m.tenant_id AND a.member_id = m.id AND a.next_settle_at <= $3
          AND g.status IN ({_OPEN})) AS own_grants,
  ARRAY(SELECT u FROM member_reward_usage u WHERE u.member_id = m.id) AS own_usage,
  ARRAY(SELECT (r.id, r.stock) FROM reward r WHERE r.tenant_id = m.tenant_id
        AND {LIVE_STOCKED}) AS live_stock
FROM member m WHERE m.tenant_id = $1 AND m.id = $2
"""


async def own_state(reader: Reader, now: datetime) -> OwnState | None:
    """The member reading (a member token's reader) and its state as of `now`; None when
    the member is gone."""
    if reader.member_id is None:
        raise ValueError("own_state reads a member token's own rows")
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return await _in_reads(reader, now)
    rows = await conn.execute_query_dict(
        _STATEMENT, [reader.tenant_id, reader.member_id, now + EXPIRING_SOON]
    )
    if not rows:
        return None
    row = rows[0]
    accounts = [model_of(PointAccount, r) for r in row.pop("own_accounts")]
    grants = [model_of(PointGrant, r) for r in row.pop("own_grants")]
    usage = [model_of(MemberRewardUsage, r) for r in row.pop("own_usage")]
    stock = dict(row.pop("live_stock"))
    return _state(Member._init_from_db(**row), accounts, grants, usage, stock, now)


async def _in_reads(reader: Reader, now: datetime) -> OwnState | None:
    member = await members_for(reader).get_or_none(id=reader.member_id)
    if member is None:
        return None
    accounts = await accounts_for(reader).order_by("created_at")
    due = [a.id for a in accounts if needs_grants(a, now)]
    grants = (
        await grants_for(reader).filter(account_id__in=due, status__in=OPEN_GRANTS) if due else []
    )
    usage = await MemberRewardUsage.filter(member_id=member.id)
    return _state(member, accounts, grants, usage, await live_stock(reader.tenant_id), now)


def _state(
    member: Member,
    accounts: list[PointAccount],
    grants: list[PointGrant],
    usage: list[MemberRewardUsage],
    stock: dict[UUID, int],
    now: datetime,
) -> OwnState:
    by_account: dict[UUID, list[PointGrant]] = {}
    for grant in grants:
        by_account.setdefault(grant.account_id, []).append(grant)
    views = [
        view_of(a, by_account.get(a.id, []) if needs_grants(a, now) else [], now) for a in accounts
    ]
    return OwnState(member, accounts, views, {u.reward_id: u for u in usage}, stock)
