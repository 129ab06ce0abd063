"""Awarding and deducting points as a tenant backend or an admin does it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from core import clock
from core.errors import Conflict, InvalidInput, NotFound, Refused
from models.db.idempotency import IdempotencyKey
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerEntry, LedgerSource, PointAccount, PointGrant
from tests.factories import make_member, make_tenant

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def frozen() -> object:
    with clock.frozen_at(T0):
        yield


async def _member(points: int = 0) -> tuple[UUID, UUID]:
    t = await make_tenant()
    member = await make_member(t.tenant.id, points=points)
    return t.tenant.id, member.id


def _request(tenant_id: UUID, member_id: UUID, amount: int, **fields: Any) -> AwardRequest:
    fields.setdefault("source", LedgerSource.PURCHASE)
    return AwardRequest(
        tenant_id=tenant_id, member_id=member_id, definition_id=None, amount=amount, **fields
    )


async def _written(member_id: UUID) -> tuple[int, int, int, int, int]:
    """What an award can write: (balance, pending, entries, grants, idempotency keys)."""
    account = await PointAccount.get_or_none(member_id=member_id)
    return (
        account.balance if account else 0,
        account.pending if account else 0,
        await LedgerEntry.filter(account__member_id=member_id).count(),
        await PointGrant.filter(account__member_id=member_id).count(),
        await IdempotencyKey.all().count(),
    )


async def test_an_award_credits_the_account_with_source_and_description(db: str) -> None:
    # given
    tenant_id, member_id = await _member()
    # when
    posted = await award_points(
        _request(
            tenant_id,
            member_id,
            250,
            source=LedgerSource.BONUS,
            description="Birthday bonus",
            actor="admin@shop.test",
        )
    )
    # then
    assert posted.entry is not None and posted.grant is None
    assert posted.account.balance == 250
    entry = await LedgerEntry.get(id=posted.entry.id)
    assert (entry.amount, entry.source, entry.description) == (250, "BONUS", "Birthday bonus")
    assert (entry.balance_before, entry.balance_after) == (0, 250)
    assert entry.actor == "admin@shop.test"
    assert entry.tenant_id == tenant_id
    assert (await PointAccount.get(member_id=member_id)).balance == 250


async def test_a_deduction_debits_the_account(db: str) -> None:
    # given
    tenant_id, member_id = await _member(points=300)
    # when
    posted = await award_points(
        _request(
            tenant_id, member_id, -120, source=LedgerSource.RETURN, description="Order returned"
        )
    )
    # then
    assert posted.entry is not None
    entry = await LedgerEntry.get(id=posted.entry.id)
    assert (entry.amount, entry.source, entry.description) == (-120, "RETURN", "Order returned")
    assert (entry.balance_before, entry.balance_after) == (300, 180)
    assert (await PointAccount.get(member_id=member_id)).balance == 180


async def test_a_deduction_of_the_whole_balance_is_allowed(db: str) -> None:
    # given
    tenant_id, member_id = await _member(points=300)
    # when
    await award_points(_request(tenant_id, member_id, -300, source=LedgerSource.ADJUSTMENT))
    # then
    assert (await PointAccount.get(member_id=member_id)).balance == 0


@pytest.mark.parametrize("points", [0, 100])
async def test_a_deduction_below_zero_is_refused_and_writes_nothing(db: str, points: int) -> None:
    # given
    tenant_id, member_id = await _member(points=points)
    before = await _written(member_id)
    # when
    with pytest.raises(Refused) as exc:
        await award_points(
            _request(
                tenant_id,
                member_id,
                -101,
                source=LedgerSource.ADJUSTMENT,
                idempotency_key="deduct-1",
            )
        )
    # then
    assert exc.value.code == "INSUFFICIENT_POINTS"
    assert exc.value.field == "amount"
    assert await _written(member_id) == before


async def test_a_refused_deduction_does_not_burn_its_idempotency_key(db: str) -> None:
    # given
    tenant_id, member_id = await _member(points=50)
    request = _request(
        tenant_id, member_id, -80, source=LedgerSource.ADJUSTMENT, idempotency_key="k-1"
    )
    with pytest.raises(Refused):
        await award_points(request)
    await award_points(_request(tenant_id, member_id, 50))
    # when: the same request is retried once the balance allows it
    posted = await award_points(request)
    # then
    assert posted.entry is not None and posted.entry.amount == -80
    assert (await PointAccount.get(member_id=member_id)).balance == 20


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 10**12 + 1}, "amount"),
        ({"amount": -(10**12) - 1}, "amount"),
        ({"valid_to": T0 - DAY}, "validTo"),
        ({"valid_to": T0}, "validTo"),
        ({"valid_from": T0 + 2 * DAY, "valid_to": T0 + 2 * DAY}, "validTo"),
        ({"valid_from": T0 + 3 * DAY, "valid_to": T0 + 2 * DAY}, "validTo"),
        ({"amount": -10, "valid_from": T0 + DAY}, "validFrom"),
        ({"amount": -10, "valid_to": T0 + DAY}, "validTo"),
        ({"source": LedgerSource.REDEMPTION}, "source"),
        ({"source": LedgerSource.REFUND}, "source"),
        ({"source": LedgerSource.EXPIRY}, "source"),
        ({"source": LedgerSource.BALANCE_SYNC}, "source"),
        ({"idempotency_key": "   "}, "idempotencyKey"),
        ({"idempotency_key": "k" * 201}, "idempotencyKey"),
    ],
    ids=[
        "zero",
        "too-large",
        "too-small",
        "valid-to-past",
        "valid-to-now",
        "valid-to-equals-valid-from",
        "valid-to-before-valid-from",
        "deduction-with-valid-from",
        "deduction-with-valid-to",
        "source-redemption",
        "source-refund",
        "source-expiry",
        "source-balance-sync",
        "blank-key",
        "long-key",
    ],
)
async def test_invalid_awards_name_the_field_and_write_nothing(
    db: str, frozen: object, fields: dict[str, Any], field: str
) -> None:
    # given
    tenant_id, member_id = await _member(points=100)
    before = await _written(member_id)
    request = replace(_request(tenant_id, member_id, 10), **fields)
    # when
    with pytest.raises(InvalidInput) as exc:
        await award_points(request)
    # then
    assert exc.value.field == field
    assert await _written(member_id) == before


async def test_a_replayed_request_returns_the_same_entry_without_a_second_effect(
    db: str,
) -> None:
    # given
    tenant_id, member_id = await _member()
    request = _request(tenant_id, member_id, 40, description="order 77", idempotency_key="o-77")
    first = await award_points(request)
    # when
    second = await award_points(request)
    # then
    assert first.entry is not None and second.entry is not None
    assert second.entry.id == first.entry.id
    assert second.account.balance == 40
    assert await LedgerEntry.all().count() == 1
    assert (await PointAccount.get(member_id=member_id)).balance == 40


async def test_points_valid_from_now_with_a_valid_to_are_active_and_expiring(
    db: str, frozen: object
) -> None:
    # given
    tenant_id, member_id = await _member()
    # when
    posted = await award_points(
        _request(tenant_id, member_id, 70, valid_from=T0 - DAY, valid_to=T0 + DAY)
    )
    # then
    assert posted.entry is not None and posted.grant is not None
    assert (posted.entry.valid_from, posted.entry.valid_to) == (T0 - DAY, T0 + DAY)
    assert (posted.grant.status, posted.grant.remaining) == ("ACTIVE", 70)
    account = await PointAccount.get(member_id=member_id)
    assert (account.balance, account.pending) == (70, 0)


async def test_a_replayed_pending_award_creates_no_second_grant(db: str, frozen: object) -> None:
    # given
    tenant_id, member_id = await _member()
    request = _request(tenant_id, member_id, 40, valid_from=T0 + DAY, idempotency_key="p-1")
    first = await award_points(request)
    # when
    second = await award_points(request)
    # then
    assert first.grant is not None and second.grant is not None
    assert second.grant.id == first.grant.id
    assert second.entry is None
    account = await PointAccount.get(member_id=member_id)
    assert (account.balance, account.pending) == (0, 40)
    assert await PointGrant.all().count() == 1


@pytest.mark.parametrize(
    "change",
    [{"amount": 41}, {"description": "order 78"}, {"source": LedgerSource.BONUS}],
    ids=["amount", "description", "source"],
)
async def test_the_same_key_for_another_request_is_a_conflict(
    db: str, change: dict[str, Any]
) -> None:
    # given
    tenant_id, member_id = await _member()
    request = _request(tenant_id, member_id, 40, description="order 77", idempotency_key="o-77")
    await award_points(request)
    # when
    with pytest.raises(Conflict) as exc:
        await award_points(replace(request, **change))
    # then
    assert exc.value.code == "IDEMPOTENCY_CONFLICT"
    assert exc.value.field == "idempotencyKey"
    assert await LedgerEntry.all().count() == 1
    assert (await PointAccount.get(member_id=member_id)).balance == 40


async def test_the_same_key_for_two_members_is_two_awards(db: str) -> None:
    # given
    tenant_id, first_member = await _member()
    second_member = (await make_member(tenant_id)).id
    # when
    await award_points(_request(tenant_id, first_member, 10, idempotency_key="same"))
    await award_points(_request(tenant_id, second_member, 10, idempotency_key="same"))
    # then
    assert (await PointAccount.get(member_id=first_member)).balance == 10
    assert (await PointAccount.get(member_id=second_member)).balance == 10


async def test_a_member_of_another_tenant_is_not_found(db: str) -> None:
    # given
    _, member_id = await _member(points=100)
    other = await make_tenant()
    before = await _written(member_id)
    # when
    with pytest.raises(NotFound) as exc:
        await award_points(_request(other.tenant.id, member_id, 500))
    # then
    assert exc.value.field == "memberId"
    assert await _written(member_id) == before


async def test_a_point_definition_of_another_tenant_is_not_found(db: str) -> None:
    # given
    tenant_id, member_id = await _member(points=100)
    other = await make_tenant()
    # when
    with pytest.raises(NotFound) as exc:
        await award_points(
            replace(_request(tenant_id, member_id, 500), definition_id=other.definition.id)
        )
    # then
    assert exc.value.field == "definitionId"
    assert await PointAccount.filter(definition_id=other.definition.id).count() == 0
