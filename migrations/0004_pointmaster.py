from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.pointmaster.tables import SyncKind, SyncStatus
from models.tenancy.tables import PointMode
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_event_kinds')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BalanceSnapshot',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='balance_snapshots', on_delete=OnDelete.CASCADE)),
                ('account', fields.OneToOneField('models.PointAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='balance_snapshot', on_delete=OnDelete.CASCADE)),
                ('snapshot_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('amount', fields.BigIntField()),
                ('batch_id', fields.UUIDField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'balance_snapshot', 'app': 'models', 'pk_attr': 'id', 'table_description': "The master's last applied balance snapshot of an account: an older one never wins."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointModeChange',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='point_mode_changes', on_delete=OnDelete.CASCADE)),
                ('old_mode', fields.CharEnumField(description='MASTER: MASTER\nFOLLOWER_BALANCE: FOLLOWER_BALANCE\nFOLLOWER_TRANSACTIONS: FOLLOWER_TRANSACTIONS', enum_type=PointMode, max_length=32)),
                ('new_mode', fields.CharEnumField(description='MASTER: MASTER\nFOLLOWER_BALANCE: FOLLOWER_BALANCE\nFOLLOWER_TRANSACTIONS: FOLLOWER_TRANSACTIONS', enum_type=PointMode, max_length=32)),
                ('actor', fields.CharField(max_length=200)),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'point_mode_change', 'app': 'models', 'pk_attr': 'id', 'table_description': "Audit row: who switched the tenant's point mode, from what to what, and why."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SyncBatch',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='sync_batches', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='BALANCES: BALANCES\nTRANSACTIONS: TRANSACTIONS', enum_type=SyncKind, max_length=16)),
                ('status', fields.CharEnumField(default=SyncStatus.PENDING, description='PENDING: Pending\nPROCESSING: Processing\nCOMPLETED: Completed\nCOMPLETED_WITH_ERRORS: CompletedWithErrors', enum_type=SyncStatus, max_length=32)),
                ('items', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('item_count', fields.IntField()),
                ('applied_count', fields.IntField(default=0)),
                ('messages', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('attempts', fields.IntField(default=0)),
                ('leased_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sync_batch', 'app': 'models', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
