"""The points cron and an account it cannot settle (data an older engine or a hand edit left
inconsistent): the others are settled every run, the bad grants end FAILED after a bounded
number of runs, visibly, and the account works again."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from core import clock
from models.points.awards import AwardRequest, award_points
from models.points.grants import MAX_SETTLE_FAILURES, settle_due
from models.points.ledger import ensure_account
from models.points.tables import GrantStatus, LedgerSource, PointAccount, PointGrant
from tests.factories import default_definition, make_member, make_tenant
from tests.graphql_client import GraphQLClient, open_tenant

GRANTS = """query($m: ID) { member(id: $m) { accounts {
  balance grants(status: [FAILED]) { amount status settleError } } } }"""


async def test_an_account_that_cannot_be_settled_fails_its_grants_and_blocks_nobody(
    gql: GraphQLClient,
) -> None:
    # given member A whose expiring grant claims 100 unspent points the account does not hold
    shop = await open_tenant(gql)
    tenant_id = UUID(shop.tenant_id)
    definition = await default_definition(tenant_id)
    now = clock.now()
    a = await make_member(tenant_id)
    account = await ensure_account(tenant_id, a.id, definition.id)
    await PointGrant.create(
        id=uuid4(), tenant_id=tenant_id, account_id=account.id, amount=100, remaining=100,
        source=LedgerSource.PURCHASE, status=GrantStatus.ACTIVE, valid_to=now - timedelta(days=1),
        due_at=now - timedelta(days=1), created_at=now - timedelta(days=30),
    )  # fmt: skip
    await PointAccount.filter(id=account.id).update(next_settle_at=now - timedelta(days=1))
    # and member B of another tenant, whose pending points became due
    other = await make_tenant()
    b = await make_member(other.tenant.id)
    with clock.frozen_at(now - timedelta(hours=2)):
        await award_points(
            AwardRequest(
                tenant_id=other.tenant.id, member_id=b.id, definition_id=None, amount=40,
                source=LedgerSource.PURCHASE, valid_from=now - timedelta(hours=1),
            )
        )  # fmt: skip

    # when the cron runs, once more than the bound, a minute apart
    runs = []
    for n in range(MAX_SETTLE_FAILURES + 1):
        with clock.frozen_at(now + timedelta(minutes=n)):
            runs.append(await settle_due())

    # then B's points were activated on the first run, whatever A's account did
    assert runs[0].grants == 1 and {m for _, m in runs[0].members} == {b.id}
    assert (await PointAccount.get(member_id=b.id)).balance == 40
    # and A's grant is FAILED after the bound, no longer due, the error kept
    grant = await PointGrant.get(account_id=account.id)
    assert (grant.status, grant.settle_failures, grant.due_at) == (
        GrantStatus.FAILED,
        MAX_SETTLE_FAILURES,
        None,
    )
    assert grant.settle_error and "overdraw" in grant.settle_error
    assert [r.grants for r in runs[1:]] == [0] * MAX_SETTLE_FAILURES
    # and A's account takes postings again (they settle it first)
    posted = await award_points(
        AwardRequest(
            tenant_id=tenant_id, member_id=a.id, definition_id=None, amount=5,
            source=LedgerSource.PURCHASE,
        )
    )  # fmt: skip
    assert posted.account.balance == 5
    # and the tenant sees the failed grant and why, a member not the error
    by_backend = await gql(GRANTS, {"m": str(a.id)}, shop.api_key)
    token = await gql(
        'mutation($m: ID!) { createMemberToken(memberId: $m) { token } }', {"m": str(a.id)},
        shop.api_key,
    )  # fmt: skip
    by_member = await gql(GRANTS, {"m": str(a.id)}, token["data"]["createMemberToken"]["token"])
    (seen,) = by_backend["data"]["member"]["accounts"]
    assert seen["grants"] == [
        {"amount": 100, "status": "FAILED", "settleError": grant.settle_error}
    ]
    assert by_member["data"]["member"]["accounts"][0]["grants"] == [
        {"amount": 100, "status": "FAILED", "settleError": None}
    ]
