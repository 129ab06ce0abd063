"""Each payload format has exactly the fixture's field names and nesting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core import clock
from models.catalog.tables import Reward, RewardType
from models.members.tables import Member
from models.points.tables import PointDefinition
from models.redemptions.redeem import RedeemRequest, redeem
from models.tenancy.tables import Tenant
from models.webhooks.payloads import reward_redeemed
from models.webhooks.tables import PayloadFormat
from tests.factories import make_member, make_reward, make_tenant

# Copies of shared/fixtures: the platforms' documented examples.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and nesting, not the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return "leaf"


def types(value: Any) -> Any:
    """The structure of a JSON value with the type of every leaf."""
    if isinstance(value, dict):
        return {key: types(item) for key, item in value.items()}
    return type(value).__name__


async def _payload(
    fmt: PayloadFormat, stock: int | None = 50
) -> tuple[dict[str, Any], Reward, Member]:
    t = await make_tenant()
    member = await make_member(
        t.tenant.id,
        points=1000,
        address={"cep": "12345-123", "uf": "SP", "cidade": "City", "numero": "01"},
    )
    reward = await make_reward(
        t.tenant.id,
        name="Free Tickets",
        type=RewardType.VOUCHER,
        point_cost=200,
        stock=stock,
        value="50000",
        fulfillment_data={"provider": "giftcards", "sku": "VC-50K"},
    )
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id, quantity=1))
    await reward.refresh_from_db()
    payload = reward_redeemed(
        fmt,
        tenant=await Tenant.get(id=t.tenant.id),
        redemption=redemption,
        member=member,
        reward=reward,
        definition=await PointDefinition.get(id=reward.definition_id),
        stock_left=reward.stock,
        sent_at=clock.now(),
    )
    return json.loads(json.dumps(payload)), reward, member


async def test_gamify_format_matches_fixture(db: str) -> None:
    # given
    fixture = json.loads((FIXTURES / "gamify_reward_redeemed.json").read_text())
    # when
    payload, _, member = await _payload(PayloadFormat.GAMIFY)
    # then
    assert shape(payload) == shape(fixture)
    assert payload["event"] == "reward_redeemed" and payload["points_spent"] == 200
    assert payload["reward_type"] == "voucher" and payload["reward_value"] == "50000"
    assert payload["external_user_id"] == member.external_user_id
    assert payload["reward"]["fulfillmentData"] == {"provider": "giftcards", "sku": "VC-50K"}
    assert payload["timestamp"].endswith("Z")


async def test_xtremepush_format_matches_fixture(db: str) -> None:
    fixture = json.loads((FIXTURES / "xtremepush_redeem_static.json").read_text())
    payload, reward, member = await _payload(PayloadFormat.XTREMEPUSH)
    assert shape(payload) == shape(fixture)
    assert payload["event"] == "redeem.static" and payload["price"] == 200
    assert payload["productName"] == "Free Tickets" and payload["userId"] == member.external_user_id
    assert payload["redeemOptionName"] == str(reward.id) and payload["email"] == member.email
    assert type(payload["price"]) is type(fixture["price"])


async def test_toolzz_values_are_all_strings_as_in_its_spec(db: str) -> None:
    # given Toolzz's own example, where every value is a string
    fixture = json.loads((FIXTURES / "toolzz_product_redemption.json").read_text())
    # when a reward with limited stock and one with unlimited stock are redeemed
    limited, _, _ = await _payload(PayloadFormat.TOOLZZ, stock=50)
    unlimited, _, _ = await _payload(PayloadFormat.TOOLZZ, stock=None)
    # then every value of both bodies has the spec's type; unlimited stock is "" (no number)
    assert types(limited) == types(fixture)
    assert types(unlimited) == types(fixture)
    assert unlimited["data"]["exchange"]["product"]["stock_left"] == ""


async def test_toolzz_format_matches_fixture(db: str) -> None:
    fixture = json.loads((FIXTURES / "toolzz_product_redemption.json").read_text())
    payload, _, member = await _payload(PayloadFormat.TOOLZZ)
    assert shape(payload) == shape(fixture)
    exchange = payload["data"]["exchange"]
    assert payload["event"]["slug"] == "shop.product.redemption"
    assert exchange["quantity"] == "1" and exchange["total_payment"] == "200"
    assert exchange["product"]["stock_left"] == "49"  # the stock after this redemption
    assert payload["data"]["user"]["address"]["cep"] == "12345-123"
    assert payload["data"]["user"]["id"] == member.external_user_id
