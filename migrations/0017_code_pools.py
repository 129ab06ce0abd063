from tortoise import migrations
from tortoise.migrations import operations as ops
from models.catalog.tables import VoucherCodeStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0016_webhook_events')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CodePool',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='code_pools', on_delete=OnDelete.CASCADE)),
                ('reward', fields.OneToOneField('models.Reward', source_field='reward_id', db_constraint=True, to_field='id', related_name='code_pool', on_delete=OnDelete.CASCADE)),
                ('low_stock_threshold', fields.IntField(null=True)),
                ('low_stock_sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'code_pool', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The unique codes a reward hands out (one pool per reward): a redemption draws one.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VoucherCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pool', fields.ForeignKeyField('models.CodePool', source_field='pool_id', db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=100)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=VoucherCodeStatus.FREE, description='FREE: FREE\nASSIGNED: ASSIGNED\nBURNT: BURNT', enum_type=VoucherCodeStatus, max_length=16)),
                ('redemption', fields.ForeignKeyField('models.Redemption', source_field='redemption_id', null=True, db_constraint=True, to_field='id', related_name='voucher_codes', on_delete=OnDelete.SET_NULL)),
                ('assigned_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'voucher_code', 'app': 'models', 'unique_together': (('pool', 'code'),), 'indexes': [Index(fields=['pool_id', 'status', 'id']), Index(fields=['redemption_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
