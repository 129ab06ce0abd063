from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.tenancy.tables import PointMode
from models.webhooks.tables import PayloadFormat
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index
from migrations._operations import CommentOnlyAlterField

_CommentOnlyAlterField = CommentOnlyAlterField  # kept in migrations._operations


class Migration(migrations.Migration):
    dependencies = [('models', '0005_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ForwardedAdjustment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='forwarded_adjustments', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='forwarded_adjustments', on_delete=OnDelete.CASCADE)),
                ('point_definition', fields.ForeignKeyField('models.PointDefinition', source_field='point_definition_id', db_constraint=True, to_field='id', related_name='forwarded_adjustments', on_delete=OnDelete.CASCADE)),
                ('delivery', fields.ForeignKeyField('models.WebhookDelivery', source_field='delivery_id', null=True, db_constraint=True, to_field='id', related_name='forwarded_adjustments', on_delete=OnDelete.SET_NULL)),
                ('contact_id', fields.CharField(max_length=200)),
                ('definition_external_id', fields.IntField()),
                ('amount', fields.BigIntField()),
                ('source', fields.CharField(max_length=16)),
                ('description', fields.TextField(default='', unique=False)),
                ('reason', fields.TextField(default='', unique=False)),
                ('payload_fields', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('key_id', fields.CharField(max_length=32)),
                ('idempotency_key', fields.CharField(null=True, max_length=200)),
                ('actor', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reflected_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reflected_batch_id', fields.UUIDField(null=True)),
            ],
            options={'table': 'forwarded_adjustment', 'app': 'models', 'unique_together': (('tenant', 'idempotency_key'),), 'indexes': [Index(fields=['tenant_id', 'created_at']), Index(fields=['tenant_id', 'contact_id'])], 'pk_attr': 'id', 'table_description': 'An adjustment made in follower mode: sent to the master, not applied here.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointMasterKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='point_master_keys', on_delete=OnDelete.CASCADE)),
                ('key_id', fields.CharField(max_length=32)),
                ('key', fields.CharField(max_length=64)),
                ('created_by', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'point_master_key', 'app': 'models', 'unique_together': (('tenant', 'key_id'),), 'pk_attr': 'id', 'table_description': 'An AES-256 key shared with the master, named by its key id.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointMasterSettings',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.OneToOneField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='point_master_settings', on_delete=OnDelete.CASCADE)),
                ('points_log_url', fields.CharField(null=True, max_length=2000)),
                ('points_log_auth_header', fields.CharField(default='Authorization', max_length=100)),
                ('points_log_auth_value', fields.TextField(null=True, unique=False)),
                ('points_log_timeout_ms', fields.IntField(default=5000)),
                ('points_log_cache_seconds', fields.IntField(default=60)),
                ('adjustment_endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='adjustment_endpoint_id', null=True, db_constraint=True, to_field='id', related_name='point_master_settings', on_delete=OnDelete.SET_NULL)),
                ('updated_by', fields.CharField(default='', max_length=200)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'point_master_settings', 'app': 'models', 'pk_attr': 'id', 'table_description': "How the engine reaches the tenant's point master (one row per tenant)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsLogCache',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='points_logs', on_delete=OnDelete.CASCADE)),
                ('member', fields.OneToOneField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='points_log', on_delete=OnDelete.CASCADE)),
                ('entries', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fetched_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('error_message', fields.TextField(null=True, unique=False)),
                ('attempted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fetch_seq', fields.IntField(default=0)),
            ],
            options={'table': 'points_log_cache', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The last points log fetched from the master for a member, shared by every API'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='PointDefinition',
            name='point_mode',
            field=fields.CharEnumField(null=True, description='MASTER: MASTER\nFOLLOWER_BALANCE: FOLLOWER_BALANCE\nFOLLOWER_TRANSACTIONS: FOLLOWER_TRANSACTIONS', enum_type=PointMode, max_length=32),
        ),
        ops.AlterModelOptions(
            name='PointModeChange',
            options={'table': 'point_mode_change', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Audit row: who switched a point mode, from what to what, and why.'},
        ),
        ops.AlterField(
            model_name='PointModeChange',
            name='new_mode',
            field=fields.CharEnumField(null=True, description='MASTER: MASTER\nFOLLOWER_BALANCE: FOLLOWER_BALANCE\nFOLLOWER_TRANSACTIONS: FOLLOWER_TRANSACTIONS', enum_type=PointMode, max_length=32),
        ),
        ops.AlterField(
            model_name='PointModeChange',
            name='old_mode',
            field=fields.CharEnumField(null=True, description='MASTER: MASTER\nFOLLOWER_BALANCE: FOLLOWER_BALANCE\nFOLLOWER_TRANSACTIONS: FOLLOWER_TRANSACTIONS', enum_type=PointMode, max_length=32),
        ),
        ops.AddField(
            model_name='PointModeChange',
            name='point_definition',
            field=fields.ForeignKeyField('models.PointDefinition', source_field='point_definition_id', null=True, db_constraint=True, to_field='id', related_name='point_mode_changes', on_delete=OnDelete.CASCADE),
        ),
        _CommentOnlyAlterField(
            model_name='WebhookEndpoint',
            name='payload_format',
            field=fields.CharEnumField(description='GAMIFY: GAMIFY\nXTREMEPUSH: XTREMEPUSH\nTOOLZZ: TOOLZZ\nPOINT_MASTER: POINT_MASTER', enum_type=PayloadFormat, max_length=16),
        ),
    ]
