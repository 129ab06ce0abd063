"""Webhook bodies in the shapes tenants already receive from other platforms.

Field names and nesting follow the examples in shared/fixtures/: GamifyEngine's own
`reward_redeemed`, Xtremepush's `redeem.static` and Toolzz's `shop.product.redemption`.
Status changes have no equivalent on those platforms and use the GamifyEngine shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from models.catalog.tables import Reward
from models.members.tables import Member
from models.points.tables import PointDefinition
from models.redemptions.tables import Redemption, RedemptionStatus
from models.tenancy.tables import Tenant
from models.webhooks.tables import REWARD_REDEEMED_ALIAS, PayloadFormat, SystemEvent, WebhookEvent

TOOLZZ_ADDRESS_KEYS = (
    "cep",
    "uf",
    "cidade",
    "bairro",
    "logradouro",
    "numero",
    "complemento",
    "referencia",
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _toolzz_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _address_line(address: dict[str, Any] | None) -> str:
    if not address:
        return ""
    return ", ".join(str(v) for v in address.values() if v not in (None, ""))


def reward_redeemed(
    fmt: PayloadFormat,
    *,
    tenant: Tenant,
    redemption: Redemption,
    member: Member,
    reward: Reward,
    definition: PointDefinition,
    stock_left: int | None,
    sent_at: datetime,
) -> dict[str, Any]:
    if fmt == PayloadFormat.XTREMEPUSH:
        return {
            "event": "redeem.static",
            "redeemOptionName": str(reward.id),
            "namespace": str(definition.external_id),
            "transactionId": str(redemption.id),
            "userId": member.external_user_id,
            "price": redemption.points_spent,
            "productName": reward.name,
            "address": _address_line(member.address),
            "email": member.email or "",
        }
    if fmt == PayloadFormat.TOOLZZ:
        address = member.address or {}
        return {
            "event": {
                "name": "Resgate do Produto",
                "slug": "shop.product.redemption",
                "send_at": _toolzz_time(sent_at),
            },
            "data": {
                "user": {
                    "id": member.external_user_id,
                    "name": member.name or "",
                    "email": member.email or "",
                    "address": {key: str(address.get(key) or "") for key in TOOLZZ_ADDRESS_KEYS},
                },
                "exchange": {
                    "id": str(redemption.id),
                    "exchange_date": _toolzz_time(redemption.created_at),
                    "quantity": str(redemption.quantity),
                    "total_payment": str(redemption.points_spent),
                    "institution": {"id": str(tenant.id), "name": tenant.name},
                    "school": _school(reward),
                    "product": {
                        "id": str(reward.id),
                        "name": reward.name,
                        "type": "price",
                        "price": str(reward.point_cost),
                        # Every Toolzz value is a string; unlimited stock has no number
                        # left: "" rather than a made-up one (README, Webhooks).
                        "stock_left": "" if stock_left is None else str(stock_left),
                    },
                },
            },
        }
    return {
        # The seed spec's name, kept for receivers built on it (the event is
        # `redemption.created`).
        "event": REWARD_REDEEMED_ALIAS,
        "redemption_id": str(redemption.id),
        "user_id": str(member.id),
        "external_user_id": member.external_user_id,
        "reward_id": str(reward.id),
        "reward_type": reward.type.lower(),
        "reward_value": reward.value,
        "points_spent": redemption.points_spent,
        "reward": {
            "name": reward.name,
            "type": reward.type.lower(),
            "fulfillmentData": reward.fulfillment_data or {},
        },
        "timestamp": _iso(sent_at),
    }


def _school(reward: Reward) -> dict[str, str]:
    """Toolzz's `school`: taken from the reward's fulfilment data when the tenant sets it."""
    school = (reward.fulfillment_data or {}).get("school") or {}
    return {"id": str(school.get("id", "")), "name": str(school.get("name", ""))}


def status_changed(
    *,
    redemption: Redemption,
    member: Member,
    old_status: RedemptionStatus,
    reason: str | None,
    sent_at: datetime,
) -> dict[str, Any]:
    return {
        "event": WebhookEvent.REDEMPTION_STATUS_CHANGED.value,
        "redemption_id": str(redemption.id),
        "user_id": str(member.id),
        "external_user_id": member.external_user_id,
        "reward_id": str(redemption.reward_id),
        "old_status": old_status.value,
        "new_status": RedemptionStatus(redemption.status).value,
        "fulfillmentData": redemption.fulfillment_data,
        "reason": reason,
        "timestamp": _iso(sent_at),
    }


def add_points_body(
    adjustment_id: UUID, encrypted_payload: str, key_id: str, tenant_slug: str
) -> dict[str, Any]:
    """The point master's `loyalty.addPoints` webhook. `payload` is the AES-256-GCM
    encrypted adjustment (core.payload_crypto); `keyId` names the key it was encrypted
    with, so the master can keep an old key for what was sent before a rotation."""
    return {
        "eventType": SystemEvent.LOYALTY_ADD_POINTS.value,
        "id": str(adjustment_id),
        "payload": encrypted_payload,
        "tenant": tenant_slug,
        "keyId": key_id,
    }
