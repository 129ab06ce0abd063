"""Sync batches are now given up (status Failed) after a bounded number of attempts. Batches
left unfinished by earlier versions, which retried without a cap, may have counted many
attempts already: they start again from none, so each gets its bounded tries with today's
per-item checks (a bad item is rejected, the rest applied) instead of failing at once."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_tenant_origins")]

    initial = False

    operations = [
        ops.RunSQL(
            'UPDATE "sync_batch" SET "attempts" = 0 WHERE "status" IN (\'Pending\', \'Processing\')',
            "SELECT 1",
        ),
    ]
