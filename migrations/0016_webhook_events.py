"""The webhook event catalogue: a per-tenant "expiring soon" window, a low-stock threshold
per reward, the mark of a grant's expiring-soon event, and `reward_redeemed` renamed
`redemption.created` in stored subscriptions and deliveries (the name is still accepted
on input, and the GAMIFY body keeps it)."""

import json

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from migrations._operations import AddColumnWithDefault

OLD, NEW = "reward_redeemed", "redemption.created"


async def _rename(old, new, client):
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict('SELECT "id", "events" FROM "webhook_endpoint"')
    for row in rows:
        names = json.loads(row["events"]) if isinstance(row["events"], str) else row["events"]
        if old not in names:
            continue
        value = json.dumps(sorted({new if n == old else n for n in names}))
        sql = (
            'UPDATE "webhook_endpoint" SET "events" = $1::jsonb WHERE "id" = $2'
            if postgres
            else 'UPDATE "webhook_endpoint" SET "events" = ? WHERE "id" = ?'
        )
        await client.execute_query(sql, [value, row["id"]])
    sql = (
        'UPDATE "webhook_delivery" SET "event" = $1 WHERE "event" = $2'
        if postgres
        else 'UPDATE "webhook_delivery" SET "event" = ? WHERE "event" = ?'
    )
    await client.execute_query(sql, [new, old])


async def _forward(_apps, editor):
    await _rename(OLD, NEW, editor.client)


async def _backward(_apps, editor):
    await _rename(NEW, OLD, editor.client)


class Migration(migrations.Migration):
    dependencies = [("models", "0014_ledger_source_name")]

    initial = False

    operations = [
        ops.AddField(
            model_name="PointGrant",
            name="expiry_warned_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Reward",
            name="low_stock_threshold",
            field=fields.IntField(null=True),
        ),
        AddColumnWithDefault(
            model_name="Tenant",
            name="points_expiring_soon_days",
            field=fields.IntField(default=7),
            sql={
                "sqlite": 'ALTER TABLE "tenant" ADD COLUMN "points_expiring_soon_days" INT NOT NULL '
                "DEFAULT 7",
                "postgres": 'ALTER TABLE "tenant" ADD COLUMN "points_expiring_soon_days" INT NOT NULL '
                "DEFAULT 7",
            },
        ),
        ops.RunPython(_forward, _backward),
    ]
