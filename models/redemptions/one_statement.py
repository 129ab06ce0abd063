"""The common redemption as one PostgreSQL statement, committed on its own.

Most redemptions need only the ledger's debit of an account with nothing to settle, the
ledger entry, the redemption with its two events, the reward's stock and perhaps the
claim of an idempotency key: no usage limit or cooldown, no code pool, no point master,
no webhook that wants the redemption, its points or the stock. Here those are one
statement of data-modifying CTEs with no BEGIN and COMMIT round trips; a popular reward's
row stays locked only while PostgreSQL runs it (in a transaction it stayed locked until
the engine's COMMIT had come back round the event loop).

The statement does the whole redemption or changes nothing:
- a key's claim comes first, as the general way claims it before it locks the account;
- unless the caller has read the member, the statement reads it (its events show its
  external id and email) and debits nothing when the tenant has no such member;
- the debit is the ledger's own UPDATE (models.points.ledger.settled_debit): no row when
  the account holds too little or has points to settle first;
- the stock's guarded UPDATE runs only after a debit;
- the rows are inserted only when both held and the previous entry's time was seen (past
  the first entry it is not when the debit waited for another posting's commit: the
  statement's snapshot is older, and an entry must never list before the one it follows);
- when the first step (the claim, else the debit) wrote and the rest did not, the
  statement fails on purpose (FALLBACK), which undoes it.
Whenever it changes nothing the caller redeems the general way (models.redemptions.redeem),
which also says why a redemption is refused. The rows are those the general way writes.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from tortoise import connections
from tortoise.exceptions import OperationalError

from core.turns import Turns
from models.catalog.tables import Reward
from models.db.bulk_statements import db_row, insert_selecting, row_of
from models.db.guarded_updates import GuardedAdd
from models.db.idempotency import IdempotencyKey
from models.db.params import Params, Sql
from models.live.effects import balances_changed, redemption_changed
from models.points.ledger import entry_row, settled_debit
from models.points.tables import LedgerEntry, LedgerSource
from models.redemptions.records import first_event_fields, new_redemption
from models.redemptions.tables import Redemption, RedemptionEvent
from models.webhooks.catalogue import points_event
from models.webhooks.outbox import subscribers
from models.webhooks.tables import WebhookEvent

if TYPE_CHECKING:
    from models.members.tables import Member
    from models.redemptions.redeem import RedeemRequest


@dataclass(frozen=True)
class _Account:
    id: UUID | None
    tenant_id: UUID


@dataclass(frozen=True)
class _Member:
    """The member as the rows take it: its other fields come from the statement's read."""

    id: UUID
    external_user_id: str | None = None
    email: str | None = None


# Raised by the statement itself (an integer cast of this text) to undo its debit.
FALLBACK = "gamify: redeem the general way"

# A reward's stock row takes two statements of this process at a time: one runs while the
# other waits on the row, so the row is never left idle while an answer travels back; the
# redemptions of a popular reward beyond those queue in the process (core.turns), with no
# pooled connection held, not in PostgreSQL on its row lock.
STOCK_AT_ONCE = 2
_STOCK_TURNS = Turns(STOCK_AT_ONCE)


async def fits_one_statement(req: RedeemRequest, reward: Reward) -> bool:
    """Whether the redemption may be tried in one statement (the caller has checked it
    needs no usage count, code pool or point master)."""
    conn = connections.get("default")
    cost = reward.point_cost * req.quantity
    if conn.capabilities.dialect != "postgres" or cost <= 0 or reward.stock == 0:
        return False
    wanted = {
        points_event(LedgerSource.REDEMPTION, -cost).value,
        WebhookEvent.REDEMPTION_CREATED.value,
        WebhookEvent.REWARD_LOW_STOCK.value,
    }
    # The outbox rows of these need the statement's results: the general way writes them.
    return not await subscribers(conn, req.tenant_id, wanted)


@dataclass(frozen=True)
class Claim:
    """The request's idempotency key (models.db.idempotency), claimed by the statement."""

    scope: str
    key: str
    fingerprint: str


async def redeem_in_one_statement(
    req: RedeemRequest,
    reward: Reward,
    redemption_id: UUID,
    now: datetime,
    claim: Claim | None = None,
    member: Member | None = None,
) -> Redemption | None:
    """The redemption, done and committed; None when it was not (nothing changed).
    Only for a redemption that `fits_one_statement`. Without the `member` (read by the
    caller) the statement reads it, and writes nothing when the tenant has no such member.
    A `claim` is inserted first, as the general way claims a key before it locks the
    account; a claim of the same key by another request raises IntegrityError (after that
    request ends), and nothing changed."""
    conn = connections.get("default")
    cost = reward.point_cost * req.quantity
    redeemer = member or _Member(req.member_id)
    redemption = new_redemption(redemption_id, redeemer, reward, req.quantity, now)
    p = Params()
    ctes, guards, first, sources = [], [], "debit", ["debit AS d"]
    if claim is not None:
        held = IdempotencyKey(
            tenant_id=req.tenant_id,
            scope=claim.scope,
            key=claim.key,
            request_hash=claim.fingerprint,
            result_id=str(redemption_id),
        )
        inserted = insert_selecting(IdempotencyKey, [row_of(held)], None, p)
        ctes.append(f'claim AS ({inserted} RETURNING "id")')
        guards.append("EXISTS (SELECT 1 FROM claim)")
        first = "claim"
    member_ = p(req.member_id)
    if member is None:  # the fields its events show; no debit unless it is the tenant's
        ctes.append(
            f'redeemer AS (SELECT "external_user_id", "email" FROM "member" '
            f'WHERE "tenant_id" = {p(req.tenant_id)} AND "id" = {member_})'
        )
        guards.append("EXISTS (SELECT 1 FROM redeemer)")
        sources.append("redeemer AS r")
    debited = settled_debit(p(cost), member_, p(reward.definition_id), only_if=" AND ".join(guards))
    ctes.append(f"debit AS ({debited})")
    if reward.stock is not None:
        taken = GuardedAdd(Reward, "stock", reward.id, -req.quantity)
        ctes.append(f"stock AS ({taken.postgres(p, only_if='EXISTS (SELECT 1 FROM debit)')})")
        sources.append("stock AS s")
    stock_left = 's."stock"' if reward.stock is not None else "NULL::int"
    read = ", r.*" if member is None else ""
    ctes.append(
        f'ok AS (SELECT d.*, {stock_left} AS "stock_left"{read} FROM {", ".join(sources)} '
        'WHERE d."previous_at" IS NOT NULL OR d."ledger_seq" = 1)'
    )
    cost_ = p(cost, "bigint")
    description = f"Redeemed {req.quantity} x {reward.name}"
    entry_id = uuid4()
    entry = entry_row(
        _Account(None, req.tenant_id),  # its id and numbers come from the debit
        -cost,
        LedgerSource.REDEMPTION,
        balance_after=0,
        seq=0,
        created_at=now,
        description=description,
        actor=req.actor,
        redemption_id=redemption_id,
        entry_id=entry_id,
    ) | {
        "account_id": Sql('"id"'),
        "balance_before": Sql(f'"balance" + {cost_}'),
        "balance_after": Sql('"balance"'),
        "seq": Sql('"ledger_seq"'),
        "created_at": Sql(f'GREATEST({p(now, "timestamptz")}, "previous_at")'),
    }
    requested, withdrawn = (
        db_row(RedemptionEvent, fields)
        for fields in first_event_fields(
            redemption,
            redeemer,
            reward,
            req.actor,
            balance_before=0,  # the balances of the debit, as the statement makes them
            balance_after=0,
            entry_id=entry_id,
            forwarded_id=None,
        )
    )
    if member is None:
        requested["data"] = Sql(
            f"{p(requested['data'], 'jsonb')} || jsonb_build_object("
            "'externalUserId', \"external_user_id\", 'email', \"email\")"
        )
    withdrawn["data"] = Sql(
        f"{p(withdrawn['data'], 'jsonb')} || jsonb_build_object("
        f"'balanceBefore', \"balance\" + {cost_}, 'balanceAfter', \"balance\")"
    )
    ctes += [
        f"w0 AS ({insert_selecting(LedgerEntry, [entry], 'ok', p)})",
        f"w1 AS ({insert_selecting(Redemption, [row_of(redemption)], 'ok', p)})",
        f"w2 AS ({insert_selecting(RedemptionEvent, [requested, withdrawn], 'ok', p)})",
    ]
    # The first step that always writes (the claim, else the debit) without the rest: the
    # statement fails on purpose. The first step wrote nothing: no row, nothing changed.
    refuse = p(FALLBACK)
    sql = (
        f'WITH {", ".join(ctes)} SELECT o."id", CASE WHEN o."id" IS NULL '
        f'THEN ({refuse} || f."id"::text)::int END AS "fallback" '
        f"FROM {first} AS f LEFT JOIN ok AS o ON true"
    )
    try:
        # A stock's row would queue them otherwise.
        turn = nullcontext() if reward.stock is None else _STOCK_TURNS.of(reward.id)
        async with turn:
            rows = await conn.execute_query_dict(sql, p.values)
    except OperationalError as exc:
        if FALLBACK in str(exc):
            return None  # undone: the debit or the stock refused after a claim, or the
            # stock ran out, or the debit waited for another posting
        raise
    if not rows:
        return None  # too few points, or points to settle first
    redemption._saved_in_db = True
    balances_changed(req.tenant_id, req.member_id)
    redemption_changed(req.tenant_id, redemption_id, now)
    return redemption
