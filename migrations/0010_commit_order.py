"""Orders that follow commits: a ledger entry's place in its account's chain, and a
redemption event's place in its tenant's commit order.

- `point_account.ledger_seq` counts the account's postings; the guarded UPDATE that moves
  the balance also takes the next number, under the row's lock, into `ledger_entry.seq`,
  so listing by it follows balance-before/after. Existing entries are numbered in the
  order they were listed (created_at, id).
- `redemption_event.seq` is stamped from a per-tenant counter when the writing transaction
  commits (PostgreSQL: a deferred constraint trigger, so the counter's row lock is held
  only while committing; SQLite: a plain trigger, its single writer commits in this order
  anyway). Numbers are therefore dense per tenant and every number below a committed one
  is committed too: a resume cursor cannot skip an event that commits later. Existing
  events keep their id as their number; each tenant's counter starts after its largest.
"""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from migrations._operations import AddColumnWithDefault


_AddColumnWithDefault = AddColumnWithDefault  # migrations._operations


_NUMBER_ENTRIES = {
    "postgres": (
        'UPDATE "ledger_entry" AS e SET "seq" = r.n FROM (SELECT "id", row_number() OVER '
        '(PARTITION BY "account_id" ORDER BY "created_at", "id") AS n FROM "ledger_entry") AS r '
        'WHERE e."id" = r."id"'
    ),
    "sqlite": (
        'UPDATE "ledger_entry" SET "seq" = r.n FROM (SELECT "id", row_number() OVER '
        '(PARTITION BY "account_id" ORDER BY "created_at", "id") AS n FROM "ledger_entry") AS r '
        'WHERE "ledger_entry"."id" = r."id"'
    ),
}
_COUNT_POSTINGS = (
    'UPDATE "point_account" SET "ledger_seq" = COALESCE((SELECT MAX("seq") FROM "ledger_entry" '
    'WHERE "ledger_entry"."account_id" = "point_account"."id"), 0)'
)

_EVENT_COUNTER = {
    "postgres": [
        'ALTER TABLE "redemption_event" ADD COLUMN "seq" BIGINT',
        'CREATE TABLE "redemption_event_counter" ("tenant_id" UUID NOT NULL PRIMARY KEY '
        'REFERENCES "tenant" ("id") ON DELETE CASCADE, "last_seq" BIGINT NOT NULL)',
        """CREATE FUNCTION "redemption_event_stamp"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE next_seq BIGINT;
BEGIN
    INSERT INTO "redemption_event_counter" AS c ("tenant_id", "last_seq")
    VALUES (NEW."tenant_id", 1)
    ON CONFLICT ("tenant_id") DO UPDATE SET "last_seq" = c."last_seq" + 1
    RETURNING c."last_seq" INTO next_seq;
    UPDATE "redemption_event" SET "seq" = next_seq WHERE "id" = NEW."id";
    RETURN NULL;
END $$""",
        'CREATE CONSTRAINT TRIGGER "redemption_event_stamp" AFTER INSERT ON "redemption_event" '
        'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "redemption_event_stamp"()',
    ],
    "sqlite": [
        'ALTER TABLE "redemption_event" ADD COLUMN "seq" BIGINT',
        'CREATE TABLE "redemption_event_counter" ("tenant_id" CHAR(36) NOT NULL PRIMARY KEY '
        'REFERENCES "tenant" ("id") ON DELETE CASCADE, "last_seq" BIGINT NOT NULL)',
        'CREATE TRIGGER "redemption_event_stamp" AFTER INSERT ON "redemption_event" BEGIN '
        'INSERT OR IGNORE INTO "redemption_event_counter" ("tenant_id", "last_seq") '
        'VALUES (NEW."tenant_id", 0); '
        'UPDATE "redemption_event_counter" SET "last_seq" = "last_seq" + 1 '
        'WHERE "tenant_id" = NEW."tenant_id"; '
        'UPDATE "redemption_event" SET "seq" = (SELECT "last_seq" FROM '
        '"redemption_event_counter" WHERE "tenant_id" = NEW."tenant_id") WHERE "id" = NEW."id"; '
        "END",
    ],
}
_NUMBER_EVENTS = [
    'UPDATE "redemption_event" SET "seq" = "id"',
    'INSERT INTO "redemption_event_counter" ("tenant_id", "last_seq") '
    'SELECT "tenant_id", MAX("id") FROM "redemption_event" GROUP BY "tenant_id"',
    'CREATE UNIQUE INDEX "uid_redemption_event_tenant_seq" ON "redemption_event" '
    '("tenant_id", "seq")',
]


async def _forward(_apps, editor):
    dialect = editor.client.capabilities.dialect
    await editor.client.execute_script(_NUMBER_ENTRIES[dialect])
    await editor.client.execute_script(_COUNT_POSTINGS)
    for sql in _EVENT_COUNTER[dialect] + _NUMBER_EVENTS:
        await editor.client.execute_script(sql)


async def _backward(_apps, editor):
    dialect = editor.client.capabilities.dialect
    await editor.client.execute_script('DROP INDEX IF EXISTS "uid_redemption_event_tenant_seq"')
    await editor.client.execute_script(
        'DROP TRIGGER IF EXISTS "redemption_event_stamp"'
        + (' ON "redemption_event"' if dialect == "postgres" else "")
    )
    if dialect == "postgres":
        await editor.client.execute_script('DROP FUNCTION IF EXISTS "redemption_event_stamp"()')
    await editor.client.execute_script('DROP TABLE IF EXISTS "redemption_event_counter"')
    await editor.client.execute_script('ALTER TABLE "redemption_event" DROP COLUMN "seq"')


class Migration(migrations.Migration):
    dependencies = [("models", "0009_sync_batch_attempts")]

    initial = False

    operations = [
        _AddColumnWithDefault(
            model_name="PointAccount",
            name="ledger_seq",
            field=fields.BigIntField(default=0),
            sql={
                "sqlite": 'ALTER TABLE "point_account" ADD COLUMN "ledger_seq" BIGINT NOT NULL '
                "DEFAULT 0",
                "postgres": 'ALTER TABLE "point_account" ADD COLUMN "ledger_seq" BIGINT NOT NULL '
                "DEFAULT 0",
            },
        ),
        _AddColumnWithDefault(
            model_name="LedgerEntry",
            name="seq",
            field=fields.BigIntField(default=0),
            sql={
                "sqlite": 'ALTER TABLE "ledger_entry" ADD COLUMN "seq" BIGINT NOT NULL DEFAULT 0',
                "postgres": 'ALTER TABLE "ledger_entry" ADD COLUMN "seq" BIGINT NOT NULL DEFAULT 0',
            },
        ),
        ops.AddIndex(
            model_name="LedgerEntry",
            index=Index(fields=["account_id", "seq"]),
        ),
        ops.RunPython(_forward, _backward),
    ]
