"""docs/webhooks.md cannot drift: each event's documented body is what the engine's payload
builders make of the example's inputs, and every event of the catalogue is documented."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from models.catalog.tables import Reward, RewardType
from models.members.tables import Member, Tier
from models.points.tables import (
    LedgerEntry,
    LedgerSource,
    PointAccount,
    PointDefinition,
    PointGrant,
)
from models.redemptions.tables import Redemption, RedemptionStatus
from models.tenancy.tables import Tenant
from models.webhooks import catalogue
from models.webhooks.payloads import reward_redeemed, status_changed
from models.webhooks.tables import PayloadFormat, WebhookEvent

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"
AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def _id(n: int) -> UUID:
    return UUID(int=n)


def examples() -> dict[str, dict[str, Any]]:
    """Each event's documented body, made by the builders the engine sends with (the rows
    are built here: model instances need the ORM initialised)."""
    TENANT = Tenant(id=_id(1), name="Shop", slug="shop")
    MEMBER = Member(
        id=_id(2), tenant_id=_id(1), external_user_id="customer-42", email="ana@example.com"
    )
    DEFINITION = PointDefinition(id=_id(3), tenant_id=_id(1), name="points", external_id=1)
    ACCOUNT = PointAccount(id=_id(4), tenant_id=_id(1), member_id=_id(2), definition_id=_id(3))
    REWARD = Reward(
        id=_id(5),
        tenant_id=_id(1),
        name="Coffee voucher",
        type=RewardType.VOUCHER,
        value="5 EUR",
        point_cost=200,
        fulfillment_data={"sku": "COFFEE-5"},
    )
    REDEMPTION = Redemption(
        id=_id(6),
        tenant_id=_id(1),
        member_id=_id(2),
        reward_id=_id(5),
        quantity=1,
        points_spent=200,
        status=RedemptionStatus.FULFILLED,
        fulfillment_data={"code": "VC-7F3K"},
        created_at=AT,
    )
    SILVER = Tier(id=_id(8), tenant_id=_id(1), name="Silver", rank=1)
    GOLD = Tier(id=_id(9), tenant_id=_id(1), name="Gold", rank=2)

    def _entry(
        amount: int, before: int, source: LedgerSource, description: str, **extra: Any
    ) -> Any:
        return LedgerEntry(
            id=_id(7),
            tenant_id=_id(1),
            account_id=_id(4),
            amount=amount,
            balance_before=before,
            balance_after=before + amount,
            source=source,
            description=description,
            created_at=AT,
            **extra,
        )

    def _posting(amount: int, before: int, source: LedgerSource, text: str, **extra: Any) -> Any:
        return catalogue.points_posted(
            _entry(amount, before, source, text, **extra), ACCOUNT, MEMBER, AT
        )

    return {
        "redemption.created": reward_redeemed(
            PayloadFormat.GAMIFY,
            tenant=TENANT,
            redemption=REDEMPTION,
            member=MEMBER,
            reward=REWARD,
            definition=DEFINITION,
            stock_left=41,
            sent_at=AT,
        ),
        "redemption.status_changed": status_changed(
            redemption=REDEMPTION,
            member=MEMBER,
            old_status=RedemptionStatus.REDEEMED,
            reason=None,
            sent_at=AT,
        ),
        "points.earned": _posting(
            150,
            320,
            LedgerSource.PURCHASE,
            "Order 1001",
            valid_to=datetime(2027, 12, 31, tzinfo=UTC),
        ),
        "points.spent": _posting(
            -200, 470, LedgerSource.REDEMPTION, "Redeemed 1 x Coffee voucher", redemption_id=_id(6)
        ),
        "points.refunded": _posting(
            200, 270, LedgerSource.REFUND, "Refund: redemption failed", redemption_id=_id(6)
        ),
        "points.adjusted": _posting(-50, 470, LedgerSource.ADJUSTMENT, "Goodwill correction"),
        "points.expired": _posting(-30, 470, LedgerSource.EXPIRY, "Expired: Summer bonus"),
        "points.expiring_soon": catalogue.points_expiring_soon(
            PointGrant(
                id=_id(10),
                tenant_id=_id(1),
                account_id=_id(4),
                amount=100,
                remaining=30,
                source=LedgerSource.BONUS,
                valid_to=datetime(2026, 12, 11, tzinfo=UTC),
            ),
            ACCOUNT,
            MEMBER,
            AT,
        ),
        "member.tier_changed": catalogue.tier_changed(MEMBER, SILVER, GOLD, AT),
        "reward.low_stock": catalogue.low_stock(REWARD, 4, 5, "stock", AT),
        "sync.batch_failed_items": catalogue.batch_failed_items(
            _id(11),
            "TRANSACTIONS",
            3,
            2,
            [
                {
                    "message": "Item 1: definitionId 99 is not a point definition of this tenant",
                    "timeStamp": "2026-12-04T09:30:00.000Z",
                }
            ],
            AT,
        ),
        "endpoint.disabled": catalogue.endpoint_disabled(
            _id(12),
            "https://shop.example/hooks/gamify",
            "Failing since 2026-11-29T09:30:00+00:00",
            AT,
        ),
    }


def documented() -> dict[str, dict[str, Any]]:
    """`### `name`` headings of the page, each with the first JSON block after it."""
    text = DOC.read_text()
    found = {}
    for match in re.finditer(r"^### `([a-z_.]+)`\n(.*?)```json\n(.*?)```", text, re.M | re.S):
        found[match.group(1)] = json.loads(match.group(3))
    return found


async def test_every_event_is_documented_with_the_body_the_engine_sends(db: str) -> None:
    docs = documented()
    assert sorted(docs) == sorted(e.value for e in WebhookEvent)
    for name, body in examples().items():
        assert docs[name] == body, f"docs/webhooks.md: {name} differs from the engine's body"


async def _print() -> None:
    from tortoise import Tortoise

    from core.settings import tortoise_config

    await Tortoise.init(config=tortoise_config("sqlite://:memory:", 1))
    for name, body in examples().items():
        sys.stdout.write(f"### `{name}`\n```json\n{json.dumps(body, indent=2)}\n```\n\n")
    await Tortoise.close_connections()


if __name__ == "__main__":  # the bodies, to paste into the page when a builder changes
    import asyncio

    asyncio.run(_print())
