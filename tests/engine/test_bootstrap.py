"""The demo tenant of the embedded default: created once, with credentials that work."""

from __future__ import annotations

from uuid import UUID

import pytest

from engine import bootstrap
from engine.bootstrap import DEMO_MEMBER_ID, DEMO_MEMBER_POINTS, DEMO_SLUG, bootstrap_demo
from models.catalog.tables import Reward
from models.members.tables import Member, Tier
from models.points.tables import PointAccount
from models.tenancy.access import authenticate_admin, tenant_for_api_key
from models.tenancy.tables import Tenant


async def test_demo_tenant_is_created_once_with_working_credentials(db: str) -> None:
    # given a database without a demo tenant

    # when the engine bootstraps twice
    first = await bootstrap_demo()
    second = await bootstrap_demo()

    # then the first run created the tenant, the second nothing, and the credentials work
    assert first is not None
    assert second is None
    admin = await authenticate_admin(first.admin_email, first.admin_password)
    key = await tenant_for_api_key(first.api_key)
    tenant = await Tenant.get(slug=DEMO_SLUG)
    assert admin.tenant_id == key.tenant_id == tenant.id
    for secret in (first.admin_email, first.admin_password, first.api_key):
        assert secret in first.announcement()


async def test_demo_tenant_has_a_catalog_and_a_member_with_points(db: str) -> None:
    # given / when a bootstrapped demo tenant
    assert await bootstrap_demo() is not None
    tenant = await Tenant.get(slug=DEMO_SLUG)

    # then it has tiers, rewards, and a member who can afford a reward
    assert await Tier.filter(tenant_id=tenant.id).count() == 3
    assert await Reward.filter(tenant_id=tenant.id).count() == 3
    member = await Member.get(tenant_id=tenant.id, external_user_id=DEMO_MEMBER_ID)
    account = await PointAccount.get(member_id=member.id)
    assert account.balance == DEMO_MEMBER_POINTS


async def test_failed_bootstrap_leaves_nothing_behind(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given seeding that fails after the tenant and its key were created
    async def broken_seed(tenant_id: UUID) -> None:
        raise RuntimeError("seeding failed")

    monkeypatch.setattr(bootstrap, "_seed", broken_seed)

    # when the engine bootstraps
    with pytest.raises(RuntimeError, match="seeding failed"):
        await bootstrap_demo()

    # then no demo tenant exists, so the next start creates one and shows its password
    assert not await Tenant.exists(slug=DEMO_SLUG)
