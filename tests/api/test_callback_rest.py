"""POST /api/v1/redemptions/{id}/callback: the fulfilment backend's REST callback."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from core import clock
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from tests.factories import make_member, make_reward
from tests.graphql_client import GraphQLClient, TenantSession, open_tenant


async def _redemption(tenant: TenantSession) -> UUID:
    tenant_id = UUID(tenant.tenant_id)
    member = await make_member(tenant_id, points=100)
    reward = await make_reward(tenant_id, point_cost=100, stock=1)
    return (await redeem(RedeemRequest(tenant_id, member.id, reward.id))).id


async def test_fulfilled_callback_then_identical_repeat(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given
    redemption_id = await _redemption(tenant)
    body = {
        "status": "fulfilled",
        "fulfilled_at": "2026-11-22T10:00:00Z",
        "data": {"code": "VC-1"},
    }
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    url = f"/api/v1/redemptions/{redemption_id}/callback"
    # when
    first = await gql.http.post(url, json=body, headers=headers)
    second = await gql.http.post(url, json=body, headers=headers)
    # then
    assert first.status_code == 200 and first.json()["changed"] is True
    assert first.json()["redemption"]["status"] == "fulfilled"
    assert second.status_code == 200 and second.json()["changed"] is False
    stored = await Redemption.get(id=redemption_id)
    assert stored.status == "FULFILLED" and stored.fulfillment_data == {"code": "VC-1"}
    changes = await RedemptionEvent.filter(redemption_id=redemption_id, kind="STATUS_CHANGED")
    assert len(changes) == 1
    assert changes[0].data is not None
    assert changes[0].data["occurredAt"] == "2026-11-22T10:00:00+00:00"


async def test_contradicting_and_invalid_callbacks_are_refused(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a fulfilled redemption
    redemption_id = await _redemption(tenant)
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    url = f"/api/v1/redemptions/{redemption_id}/callback"
    await gql.http.post(url, json={"status": "fulfilled"}, headers=headers)
    # when / then: a contradicting outcome is a conflict with a code
    failed = await gql.http.post(url, json={"status": "failed"}, headers=headers)
    assert failed.status_code == 409 and failed.json()["error"]["code"] == "ALREADY_FINAL"
    # an unknown status, a non-object body
    bad = await gql.http.post(url, json={"status": "done"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"
    garbage = await gql.http.post(url, content=b"[1,2", headers=headers)
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "INVALID_JSON"
    assert (await Redemption.get(id=redemption_id)).status == "FULFILLED"


async def test_callback_needs_this_tenants_api_key(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given a redemption of tenant A and tenant B's key
    redemption_id = await _redemption(tenant)
    other = await open_tenant(gql)
    url = f"/api/v1/redemptions/{redemption_id}/callback"
    # when
    anonymous = await gql.http.post(url, json={"status": "failed"})
    foreign = await gql.http.post(
        url, json={"status": "failed"}, headers={"Authorization": f"Bearer {other.api_key}"}
    )
    admin = await gql.http.post(
        url, json={"status": "failed"}, headers={"Authorization": f"Bearer {tenant.admin_token}"}
    )
    unknown = await gql.http.post(
        f"/api/v1/redemptions/{uuid4()}/callback",
        json={"status": "failed"},
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    # then: 401, foreign id is "not found", an admin token is not an API key
    assert anonymous.status_code == 401
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "NOT_FOUND"
    assert admin.status_code == 403
    assert unknown.status_code == 404
    assert (await Redemption.get(id=redemption_id)).status == "REDEEMED"


async def test_fulfilled_at_is_the_backends_time_or_the_moment_recorded(
    gql: GraphQLClient, tenant: TenantSession
) -> None:
    # given two redemptions: one the backend fulfils saying when, one an admin confirms
    by_callback, by_admin = await _redemption(tenant), await _redemption(tenant)
    # when
    await gql.http.post(
        f"/api/v1/redemptions/{by_callback}/callback",
        json={"status": "fulfilled", "fulfilled_at": "2026-11-22T10:00:00Z"},
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    with clock.frozen_at(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)):
        await gql(
            "mutation($id: ID!) { confirmRedemption(id: $id) { errors { code } } }",
            {"id": str(by_admin)},
            tenant.admin_token,
        )
    read = "query($id: ID!) { redemption(id: $id) { status fulfilledAt } }"
    # then the redemption says when it was fulfilled: the backend's time, else the engine's
    for redemption_id, when in [
        (by_callback, "2026-11-22T10:00:00+00:00"),
        (by_admin, "2026-12-01T09:30:00+00:00"),
    ]:
        body = await gql(read, {"id": str(redemption_id)}, tenant.api_key)
        assert body["data"]["redemption"] == {"status": "FULFILLED", "fulfilledAt": when}
