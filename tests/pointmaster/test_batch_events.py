"""`sync.batch_failed_items`: a point-master batch that completed with errors is announced
once to the tenant's endpoints that want it; a clean batch is not."""

from __future__ import annotations

from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import PayloadFormat, WebhookDelivery
from tests.pointmaster.conftest import Follower
from workers.sync import apply_sync_batch


def _item(contact: str, amount: int, definition: int = 1) -> dict[str, object]:
    return {
        "contactId": contact,
        "amount": amount,
        "definitionId": definition,
        "timeStamp": "2023-05-16T12:20:03Z",
    }


async def test_a_batch_with_rejected_items_is_announced_once(balances_follower: Follower) -> None:
    # given an endpoint that wants the event (in the Xtremepush format, which has no such
    # event: it gets the GAMIFY shape)
    endpoint = await create_endpoint(
        balances_follower.tenant_id,
        "https://8.8.8.8/hooks",
        ["sync.batch_failed_items"],
        PayloadFormat.XTREMEPUSH,
        allow_private=True,
    )
    clean = (await balances_follower.post("balances", [_item("c-1", 5)])).json()["id"]
    body = [_item("c-2", 5, definition=99), _item("c-3", 7), _item("c-4", -1)]
    failed = (await balances_follower.post("balances", body)).json()["id"]
    # when both are applied (the failed one twice: a re-run finds it done)
    assert await apply_sync_batch({}, clean) == "Completed"
    assert await apply_sync_batch({}, failed) == "CompletedWithErrors"
    await apply_sync_batch({}, failed)
    # then one event, for the failed batch, with its rejections
    (delivery,) = await WebhookDelivery.filter(event="sync.batch_failed_items")
    assert delivery.endpoint_id == endpoint.endpoint.id
    payload = delivery.payload
    assert {k: payload[k] for k in ("event", "batch_id", "kind", "item_count")} == {
        "event": "sync.batch_failed_items",
        "batch_id": failed,
        "kind": "BALANCES",
        "item_count": 3,
    }
    assert (payload["applied_count"], payload["rejected_count"]) == (1, 2)
    messages = [m["message"] for m in payload["rejected"]]
    assert messages[0].startswith("Item 0: definitionId 99")
    assert messages[1].startswith("Item 2: amount must not be negative")


async def test_an_uploads_postings_fire_their_points_events(balances_follower: Follower) -> None:
    # given an endpoint that wants adjustments (a balance upload's postings are BALANCE_SYNC)
    await create_endpoint(
        balances_follower.tenant_id,
        "https://8.8.8.8/hooks",
        ["points.adjusted"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    body = [_item("c-1", 120), _item("c-2", 60)]
    batch = (await balances_follower.post("balances", body)).json()["id"]
    # when it is applied, and a second snapshot lowers one balance
    assert await apply_sync_batch({}, batch) == "Completed"
    later = {**_item("c-1", 100), "timeStamp": "2023-05-17T12:20:03Z"}
    second = (await balances_follower.post("balances", [later])).json()["id"]
    assert await apply_sync_batch({}, second) == "Completed"
    # then one points.adjusted per posting, each naming its member and balances
    rows = await WebhookDelivery.filter(event="points.adjusted").order_by("created_at")
    seen = [
        (p["external_user_id"], p["amount"], p["balance_before"], p["balance_after"], p["source"])
        for p in (r.payload for r in rows)
    ]
    assert sorted(seen) == [
        ("c-1", -20, 120, 100, "BALANCE_SYNC"),
        ("c-1", 120, 0, 120, "BALANCE_SYNC"),
        ("c-2", 60, 0, 60, "BALANCE_SYNC"),
    ]
