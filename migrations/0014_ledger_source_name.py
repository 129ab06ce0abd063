from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0013_earning_rules")]

    initial = False

    operations = [
        # Nullable columns: a plain ADD COLUMN on SQLite and PostgreSQL alike.
        ops.AddField(
            model_name="LedgerEntry",
            name="source_name",
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name="PointGrant",
            name="source_name",
            field=fields.TextField(null=True, unique=False),
        ),
    ]
