"""The demo tenant of the embedded default: created on first start, announced once.

"First start" is "no tenant with slug `demo` yet". The admin password and the API key are
random, shown once and stored only hashed, so a second start has nothing to show.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import UUID

from tortoise.transactions import in_transaction

from core.errors import Conflict
from models.catalog.rewards import RewardFields, create_reward
from models.catalog.tables import RewardType
from models.members.tables import Tier
from models.members.upserts import save_tier, upsert_member
from models.points.awards import AwardRequest, award_points
from models.points.tables import LedgerSource
from models.tenancy.access import create_api_key, create_tenant
from models.tenancy.tables import Tenant

DEMO_SLUG = "demo"
DEMO_ADMIN_EMAIL = "admin@demo.local"
DEMO_MEMBER_ID = "demo-member-1"
DEMO_MEMBER_POINTS = 1000


@dataclass(frozen=True)
class DemoCredentials:
    admin_email: str
    admin_password: str
    api_key: str

    def announcement(self) -> str:
        return "\n".join(
            [
                "",
                "  GamifyEngine demo tenant created (shown once; only hashes are stored):",
                f"    admin login   {self.admin_email}",
                f"    password      {self.admin_password}",
                f"    API key       {self.api_key}",
                f"    member        {DEMO_MEMBER_ID} ({DEMO_MEMBER_POINTS} points)",
                "",
            ]
        )


async def bootstrap_demo() -> DemoCredentials | None:
    """Create the demo tenant unless it exists; returns its credentials when created.

    All or nothing: a failure leaves no tenant behind, so the next start tries again
    instead of having lost the password.
    """
    if await Tenant.exists(slug=DEMO_SLUG):
        return None
    password = secrets.token_urlsafe(18)
    try:
        async with in_transaction():
            new = await create_tenant("Demo", DEMO_SLUG, DEMO_ADMIN_EMAIL, password)
            _, api_key = await create_api_key(new.tenant.id, "Demo key")
            await _seed(new.tenant.id)
    except Conflict:
        return None  # another process created it at the same moment
    return DemoCredentials(DEMO_ADMIN_EMAIL, password, api_key)


async def _seed(tenant_id: UUID) -> None:
    """Three tiers, a small catalog and one member with points: enough to try a redeem."""
    tiers: dict[str, Tier] = {}
    for rank, name in enumerate(("Bronze", "Silver", "Gold"), start=1):
        tiers[name] = await save_tier(tenant_id, None, name, rank)
    rewards = [
        RewardFields(
            name="5 EUR voucher",
            description="A voucher code for the web shop.",
            type=RewardType.VOUCHER,
            value="5 EUR",
            point_cost=500,
        ),
        RewardFields(
            name="Free coffee",
            description="One coffee at any store.",
            type=RewardType.GIFT,
            point_cost=150,
            stock=100,
            per_member_limit=3,
        ),
        RewardFields(
            name="Lounge pass",
            description="A day in the members' lounge.",
            type=RewardType.GIFT,
            point_cost=800,
            min_tier_id=tiers["Gold"].id,
        ),
    ]
    for reward in rewards:
        await create_reward(tenant_id, reward)
    member, _ = await upsert_member(
        tenant_id,
        DEMO_MEMBER_ID,
        email="member@demo.local",
        name="Demo Member",
        tier_id=tiers["Bronze"].id,
    )
    await award_points(
        AwardRequest(
            tenant_id=tenant_id,
            member_id=member.id,
            definition_id=None,
            amount=DEMO_MEMBER_POINTS,
            source=LedgerSource.BONUS,
            description="Welcome points",
        )
    )
