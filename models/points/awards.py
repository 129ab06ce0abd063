"""Awarding and deducting points (tenant backend, admins, automations)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core import clock
from core.errors import InvalidInput, NotFound, Refused
from models.db.field_limits import MAX_DESCRIPTION, check_text
from models.db.guarded_updates import guarded_add
from models.db.idempotency import claim_key, replayed_result, request_fingerprint, validate_key
from models.db.transactions import atomic
from models.live.effects import balances_changed
from models.members.tables import Member
from models.points.codes import PointsCode
from models.points.expiry import expiry_for
from models.points.grants import settle_account
from models.points.ledger import (
    ensure_account,
    grant_row,
    lock_account,
    lower_settle_hint,
    post_entry,
)
from models.points.tables import (
    LedgerEntry,
    LedgerSource,
    PointAccount,
    PointDefinition,
    PointGrant,
)
from models.tiers.evaluation import points_earned

SYSTEM_SOURCES = frozenset(
    {LedgerSource.REDEMPTION, LedgerSource.REFUND, LedgerSource.EXPIRY, LedgerSource.BALANCE_SYNC}
)
MAX_AMOUNT = 1_000_000_000  # GraphQL Int is 32-bit
# GraphQL Int is 32-bit signed: a balance (and its pending points, which become balance)
# beyond this could no longer be read, so no award or adjustment may take it there.
MAX_BALANCE = 2**31 - 1


@dataclass(frozen=True)
class PointsPosted:
    account: PointAccount
    entry: LedgerEntry | None  # None while the points are pending
    grant: PointGrant | None  # set when the points have a validity window


@dataclass(frozen=True)
class AwardRequest:
    tenant_id: UUID
    member_id: UUID
    definition_id: UUID | None
    amount: int
    source: LedgerSource
    description: str = ""
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    idempotency_key: str | None = None
    actor: str = "system"


def validate_award(req: AwardRequest, now: datetime) -> None:
    if req.amount == 0 or abs(req.amount) > MAX_AMOUNT:
        raise InvalidInput("Amount must be non-zero and at most 10^9", field="amount")
    check_text(req.description, MAX_DESCRIPTION, "description")
    if req.source in SYSTEM_SOURCES:
        raise InvalidInput("This source is reserved for the engine", field="source")
    if req.amount < 0 and (req.valid_from or req.valid_to):
        field = "validFrom" if req.valid_from else "validTo"
        raise InvalidInput("A deduction has no validity window", field=field)
    if req.valid_to is not None and req.valid_to <= now:
        raise InvalidInput("validTo is in the past", field="validTo")
    if req.valid_from and req.valid_to and req.valid_to <= req.valid_from:
        raise InvalidInput("validTo must be after validFrom", field="validTo")


async def resolve_definition(tenant_id: UUID, definition_id: UUID | None) -> PointDefinition:
    if definition_id is None:
        definition = await PointDefinition.get_or_none(tenant_id=tenant_id, is_default=True)
    else:
        definition = await PointDefinition.get_or_none(id=definition_id, tenant_id=tenant_id)
    if definition is None:
        raise NotFound("Point definition not found", field="definitionId")
    return definition


async def award_target(
    tenant_id: UUID, member_id: UUID, definition_id: UUID | None
) -> tuple[Member, PointDefinition]:
    """The member and the currency (None: the default one) points are for, NotFound unless
    both are the tenant's."""
    member = await Member.get_or_none(id=member_id, tenant_id=tenant_id)
    if member is None:
        raise NotFound("Member not found", field="memberId")
    return member, await resolve_definition(tenant_id, definition_id)


async def award_points(
    req: AwardRequest, target: tuple[Member, PointDefinition] | None = None
) -> PointsPosted:
    """`target`: the request's member and currency, when the caller has read them
    (award_target), so they are not read again."""
    now = clock.now()
    validate_award(req, now)
    key = validate_key(req.idempotency_key)
    member, definition = target or await award_target(
        req.tenant_id, req.member_id, req.definition_id
    )
    scope = f"points:{member.id}"
    fingerprint = request_fingerprint(
        definition.id, req.amount, req.source, req.description, req.valid_from, req.valid_to
    )
    if key:
        earlier = await replayed_result(req.tenant_id, scope, key, fingerprint)
        if earlier:
            return await _load(earlier)
    req = _with_policy_expiry(req, definition, now)
    await ensure_account(req.tenant_id, member.id, definition.id)
    posting_id = uuid4()
    try:
        async with atomic() as conn:
            if key:
                await claim_key(conn, req.tenant_id, scope, key, fingerprint, posting_id)
            account = await lock_account(conn, member.id, definition.id)
            assert account is not None  # ensured above; accounts are never deleted alone
            await settle_account(conn, account, now)
            if req.amount > 0 and account.balance + account.pending + req.amount > MAX_BALANCE:
                raise Refused(
                    f"The balance (with pending points) would exceed {MAX_BALANCE:,}",
                    field="amount",
                    code=PointsCode.BALANCE_LIMIT,
                )
            if req.amount > 0 and req.valid_from is not None and req.valid_from > now:
                pending = await _add_grant(conn, account, req, posting_id, now, pending=True)
                return PointsPosted(account=account, entry=None, grant=pending)
            entry = await post_entry(
                conn,
                account,
                req.amount,
                req.source,
                description=req.description,
                actor=req.actor,
                valid_from=req.valid_from,
                valid_to=req.valid_to,
                at=now,
                entry_id=posting_id,
            )
            if entry is None:
                raise Refused(
                    "The balance is too low for this deduction",
                    field="amount",
                    code=PointsCode.INSUFFICIENT_POINTS,
                )
            grant: PointGrant | None = None
            if req.valid_to is not None:
                grant = await _add_grant(conn, account, req, posting_id, now, pending=False)
            if req.amount > 0:
                await points_earned(conn, member, definition, now)
            return PointsPosted(account=account, entry=entry, grant=grant)
    except IntegrityError:
        if key:
            earlier = await replayed_result(req.tenant_id, scope, key, fingerprint)
            if earlier:
                return await _load(earlier)
        raise


def _with_policy_expiry(
    req: AwardRequest, definition: PointDefinition, now: datetime
) -> AwardRequest:
    """The request with the currency's expiry policy applied, when it names no valid-to:
    (the idempotency fingerprint is the request as sent, so a retry after a policy change
    is still the same request)."""
    if req.amount <= 0 or req.valid_to is not None:
        return req
    valid_to = expiry_for(definition.expiry_policy, definition.expiry_value, req.valid_from or now)
    return req if valid_to is None else replace(req, valid_to=valid_to)


async def _add_grant(
    conn: BaseDBAsyncClient,
    account: PointAccount,
    req: AwardRequest,
    posting_id: UUID,
    now: datetime,
    *,
    pending: bool,
) -> PointGrant:
    """A pending grant (waits for valid-from) or an expiring one (posted, valid until
    valid-to); either way the account is told when to look at it next."""
    grant = PointGrant(
        **grant_row(
            account,
            posting_id,
            req.amount,
            req.source,
            description=req.description,
            actor=req.actor,
            valid_from=req.valid_from,
            valid_to=req.valid_to,
            pending=pending,
            created_at=now,
        )
    )
    await grant.save(using_db=conn)
    if pending:
        await guarded_add(conn, PointAccount, "pending", account.id, req.amount)
        account.pending += req.amount
        balances_changed(account.tenant_id, account.member_id)
    assert grant.due_at is not None  # valid-from (pending) or valid-to (expiring)
    await lower_settle_hint(conn, account.id, grant.due_at)
    return grant


async def _load(posting_id: UUID) -> PointsPosted:
    entry = await LedgerEntry.get_or_none(id=posting_id)
    grant = await PointGrant.get_or_none(id=posting_id)
    account_id = entry.account_id if entry else grant.account_id if grant else None
    account = await PointAccount.get(id=account_id)
    return PointsPosted(account=account, entry=entry, grant=grant)
