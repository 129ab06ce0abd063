from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class _AddColumnWithDefault(ops.AddField):
    """Tortoise adds a NOT NULL column without a DEFAULT clause, which fails on a table
    that has rows (both backends): add it with its default in the database too."""

    def __init__(self, *, model_name, name, field, sql):
        super().__init__(model_name=model_name, name=name, field=field)
        self._sql = sql

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None:
            await state_editor._run_sql(self._sql[state_editor.DIALECT])


class Migration(migrations.Migration):
    dependencies = [('models', '0006_pointmaster_settings')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='ForwardedAdjustment',
            options={'table': 'forwarded_adjustment', 'app': 'models', 'unique_together': (('tenant', 'idempotency_key'),), 'indexes': [Index(fields=['tenant_id', 'created_at']), Index(fields=['tenant_id', 'contact_id']), Index(fields=['member_id', 'point_definition_id'])], 'pk_attr': 'id', 'table_description': 'An adjustment made in follower mode, sent to the master.'},
        ),
        _AddColumnWithDefault(
            model_name='ForwardedAdjustment',
            name='applied_locally',
            field=fields.BooleanField(default=False),
            sql={
                'sqlite': 'ALTER TABLE "forwarded_adjustment" ADD COLUMN "applied_locally" INT NOT NULL DEFAULT 0',
                'postgres': 'ALTER TABLE "forwarded_adjustment" ADD COLUMN "applied_locally" BOOL NOT NULL DEFAULT FALSE',
            },
        ),
        ops.AddField(
            model_name='ForwardedAdjustment',
            name='redemption_id',
            field=fields.UUIDField(null=True, db_index=True),
        ),
        ops.RunSQL(
            'CREATE INDEX "idx_forwarded_a_redempt_7b1c2e" ON "forwarded_adjustment" ("redemption_id")',
            'DROP INDEX "idx_forwarded_a_redempt_7b1c2e"',
        ),
        ops.AddIndex(
            model_name='ForwardedAdjustment',
            index=Index(fields=['member_id', 'point_definition_id']),
        ),
    ]
