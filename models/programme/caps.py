"""Cap counters: the points a rule has awarded per member per UTC day, per member per
month, and in all, held exactly under any number of concurrent events and processes.

A counter is one row per (rule, scope), created on first use (INSERT ... ON CONFLICT DO
NOTHING) and moved only by one guarded UPDATE that grants what still fits under the cap:
`used = used + LEAST(asked, cap - used) WHERE used < cap`. The UPDATE locks the row, so
concurrent claims on one counter are serialised by the database and none can grant past
the cap; `last_granted` is computed from the same old row and returned with it.
An award under several caps takes the least any of them grants; what the earlier counters
granted beyond that is given back in the same transaction.
Counters are always claimed in (rule id, scope) order, before any account is locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from models.db.bulk_statements import insert_rows
from models.programme.tables import EarningRule, RuleCapCounter

_LABELS = {"day": "daily cap", "month": "monthly cap", "total": "total cap"}


@dataclass(frozen=True)
class Cap:
    kind: str  # day | month | total
    scope: str
    limit: int

    @property
    def label(self) -> str:
        return _LABELS[self.kind]


def caps_of(rule: EarningRule, member_id: UUID | None, occurred_at: datetime) -> list[Cap]:
    """The rule's caps for a member's event at `occurred_at` (a UTC day and month)."""
    caps = []
    day, month = occurred_at.strftime("%Y-%m-%d"), occurred_at.strftime("%Y-%m")
    if rule.cap_member_day is not None and member_id is not None:
        caps.append(Cap("day", f"{member_id}:day:{day}", int(rule.cap_member_day)))
    if rule.cap_member_month is not None and member_id is not None:
        caps.append(Cap("month", f"{member_id}:month:{month}", int(rule.cap_member_month)))
    if rule.cap_total is not None:
        caps.append(Cap("total", "total", int(rule.cap_total)))
    return sorted(caps, key=lambda c: c.scope)


async def used(
    rule_id: UUID, caps: list[Cap], conn: BaseDBAsyncClient | None = None
) -> dict[str, int]:
    """Points used so far per scope (read only: the dry run's view)."""
    rows = (
        await RuleCapCounter.filter(rule_id=rule_id, scope__in=[c.scope for c in caps])
        .using_db(conn)
        .values_list("scope", "used")
    )
    return {scope: int(n) for scope, n in rows}


async def claim(
    conn: BaseDBAsyncClient, rule_id: UUID, caps: list[Cap], asked: int
) -> tuple[int, str]:
    """Points granted under all `caps` (0..asked) and, when fewer, which cap bound."""
    if not caps or asked <= 0:
        return asked, ""
    await insert_rows(
        conn,
        RuleCapCounter,
        [
            {"id": uuid4(), "rule_id": rule_id, "scope": c.scope, "used": 0, "last_granted": 0}
            for c in caps
        ],
        ignore_conflicts=True,
    )
    granted, bound = asked, ""
    claimed: list[tuple[Cap, int]] = []
    for cap in caps:
        got = await _grant(conn, rule_id, cap, granted)
        claimed.append((cap, got))
        if got < granted:
            granted, bound = got, cap.label
        if granted == 0:
            break
    for cap, got in claimed:
        if got > granted:
            await _give_back(conn, rule_id, cap.scope, got - granted)
    return granted, bound


async def _grant(conn: BaseDBAsyncClient, rule_id: UUID, cap: Cap, asked: int) -> int:
    if asked <= 0:
        return 0
    if conn.capabilities.dialect == "postgres":
        sql = (
            'UPDATE "rule_cap_counter" SET "last_granted" = LEAST($1::bigint, $2::bigint - "used"), '
            '"used" = "used" + LEAST($1::bigint, $2::bigint - "used") '
            'WHERE "rule_id" = $3 AND "scope" = $4 AND "used" < $2::bigint RETURNING "last_granted"'
        )
        values: list[object] = [asked, cap.limit, rule_id, cap.scope]
    else:
        sql = (
            'UPDATE "rule_cap_counter" SET "last_granted" = MIN(?, ? - "used"), '
            '"used" = "used" + MIN(?, ? - "used") '
            'WHERE "rule_id" = ? AND "scope" = ? AND "used" < ? RETURNING "last_granted"'
        )
        values = [asked, cap.limit, asked, cap.limit, str(rule_id), cap.scope, cap.limit]
    rows = await conn.execute_query_dict(sql, values)
    return int(rows[0]["last_granted"]) if rows else 0


async def _give_back(conn: BaseDBAsyncClient, rule_id: UUID, scope: str, points: int) -> None:
    await (
        RuleCapCounter.filter(rule_id=rule_id, scope=scope)
        .using_db(conn)
        .update(used=F("used") - points)
    )


async def give_back(conn: BaseDBAsyncClient, rule_id: UUID, caps: list[Cap], points: int) -> None:
    """Return points claimed in this transaction (the award they were for did not happen)."""
    for cap in caps:
        await _give_back(conn, rule_id, cap.scope, points)


# A counter of a batch: (rule id, scope) -> (points asked in all, the cap).
Counters = dict[tuple[UUID, str], tuple[int, int]]


def _in_lock_order(counters: Counters) -> list[tuple[UUID, str]]:
    """(rule id, scope) in the order `claim` takes them one rule at a time: rule ids as
    text (the order of PostgreSQL's uuid), then scopes byte-wise (COLLATE "C")."""
    return sorted(counters, key=lambda k: (str(k[0]), k[1].encode()))


async def claim_counters(
    conn: BaseDBAsyncClient, counters: Counters
) -> dict[tuple[UUID, str], int]:
    """What each counter grants of the points a batch asks of it (0..asked): the same
    guarded UPDATE as `claim`, for many counters in a few statements. The rows are locked
    in the order single claims take them, so a batch and single events never wait on each
    other in opposite orders."""
    if not counters:
        return {}
    keys = _in_lock_order(counters)
    await insert_rows(
        conn,
        RuleCapCounter,
        [{"id": uuid4(), "rule_id": r, "scope": s, "used": 0, "last_granted": 0} for r, s in keys],
        ignore_conflicts=True,
    )
    if conn.capabilities.dialect != "postgres":
        return {
            (r, s): await _grant(conn, r, Cap("", s, counters[(r, s)][1]), counters[(r, s)][0])
            for r, s in keys
        }
    rules, scopes = [k[0] for k in keys], [k[1] for k in keys]
    table = RuleCapCounter._meta.db_table
    await conn.execute_query(
        f'SELECT c."id" FROM "{table}" AS c JOIN unnest($1::uuid[], $2::text[]) '
        'AS v(rule_id, scope) ON c."rule_id" = v.rule_id AND c."scope" = v.scope '
        'ORDER BY c."rule_id", c."scope" COLLATE "C" FOR UPDATE OF c',
        [rules, scopes],
    )
    rows = await conn.execute_query_dict(
        f'UPDATE "{table}" AS c SET "last_granted" = LEAST(v.asked, v.cap - c."used"), '
        '"used" = c."used" + LEAST(v.asked, v.cap - c."used") '
        "FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[]) "
        "AS v(rule_id, scope, asked, cap) "
        'WHERE c."rule_id" = v.rule_id AND c."scope" = v.scope AND c."used" < v.cap '
        'RETURNING c."rule_id", c."scope", c."last_granted"',
        [rules, scopes, [counters[k][0] for k in keys], [counters[k][1] for k in keys]],
    )
    granted = dict.fromkeys(keys, 0)
    for row in rows:
        granted[(UUID(str(row["rule_id"])), str(row["scope"]))] = int(row["last_granted"])
    return granted


async def give_back_counters(conn: BaseDBAsyncClient, unused: dict[tuple[UUID, str], int]) -> None:
    """Return what counters granted a batch beyond what its events took (rows it locked)."""
    for (rule_id, scope), points in unused.items():
        if points > 0:
            await _give_back(conn, rule_id, scope, points)
