from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.points.tables import GrantStatus, LedgerSource
from models.redemptions.tables import RedemptionEventKind, RedemptionStatus
from models.catalog.tables import RewardType
from models.tenancy.tables import PointMode
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

from migrations._checks import not_negative_checks

_add_not_negative_checks = not_negative_checks(
    [
        ("point_account", "balance"),
        ("point_account", "pending"),
        ("point_grant", "remaining"),
        ("reward", "stock"),
        ("reward", "point_cost"),
    ]
)


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Tenant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('slug', fields.CharField(unique=True, max_length=100)),
                ('point_mode', fields.CharEnumField(default=PointMode.MASTER, description='MASTER: MASTER\nFOLLOWER_BALANCE: FOLLOWER_BALANCE\nFOLLOWER_TRANSACTIONS: FOLLOWER_TRANSACTIONS', enum_type=PointMode, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tenant', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('prefix', fields.CharField(max_length=16)),
                ('digest', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_key', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='idempotency_keys', on_delete=OnDelete.CASCADE)),
                ('scope', fields.CharField(max_length=100)),
                ('key', fields.CharField(max_length=200)),
                ('request_hash', fields.CharField(max_length=64)),
                ('result_id', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_key', 'app': 'models', 'unique_together': (('tenant', 'scope', 'key'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointDefinition',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='point_definitions', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('description', fields.TextField(default='', unique=False)),
                ('external_id', fields.IntField()),
                ('is_default', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'point_definition', 'app': 'models', 'unique_together': (('tenant', 'name'), ('tenant', 'external_id')), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TenantAdmin',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='admins', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('name', fields.CharField(default='', max_length=200)),
                ('password_hash', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tenant_admin', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tier',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='tiers', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('rank', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tier', 'app': 'models', 'unique_together': (('tenant', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Member',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('external_user_id', fields.CharField(max_length=200)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('name', fields.CharField(null=True, max_length=200)),
                ('address', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tier', fields.ForeignKeyField('models.Tier', source_field='tier_id', null=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'member', 'app': 'models', 'unique_together': (('tenant', 'external_user_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointAccount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='point_accounts', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.CASCADE)),
                ('definition', fields.ForeignKeyField('models.PointDefinition', source_field='definition_id', db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.RESTRICT)),
                ('balance', fields.BigIntField(default=0)),
                ('pending', fields.BigIntField(default=0)),
                ('next_settle_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'point_account', 'app': 'models', 'unique_together': (('member', 'definition'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='ledger_entries', on_delete=OnDelete.CASCADE)),
                ('account', fields.ForeignKeyField('models.PointAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField()),
                ('balance_before', fields.BigIntField()),
                ('balance_after', fields.BigIntField()),
                ('source', fields.CharEnumField(description='PURCHASE: PURCHASE\nADJUSTMENT: ADJUSTMENT\nRETURN: RETURN\nREDEMPTION: REDEMPTION\nREFUND: REFUND\nEXPIRY: EXPIRY\nBALANCE_SYNC: BALANCE_SYNC\nMANUAL: MANUAL\nAUTOMATION: AUTOMATION\nBONUS: BONUS\nOTHER: OTHER', enum_type=LedgerSource, max_length=32)),
                ('description', fields.TextField(default='', unique=False)),
                ('valid_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('valid_to', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('redemption_id', fields.UUIDField(null=True, db_index=True)),
                ('actor', fields.CharField(default='system', max_length=200)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ledger_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Immutable: corrections are new entries, never edits.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointGrant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='point_grants', on_delete=OnDelete.CASCADE)),
                ('account', fields.ForeignKeyField('models.PointAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField()),
                ('remaining', fields.BigIntField()),
                ('source', fields.CharEnumField(description='PURCHASE: PURCHASE\nADJUSTMENT: ADJUSTMENT\nRETURN: RETURN\nREDEMPTION: REDEMPTION\nREFUND: REFUND\nEXPIRY: EXPIRY\nBALANCE_SYNC: BALANCE_SYNC\nMANUAL: MANUAL\nAUTOMATION: AUTOMATION\nBONUS: BONUS\nOTHER: OTHER', enum_type=LedgerSource, max_length=32)),
                ('description', fields.TextField(default='', unique=False)),
                ('valid_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('valid_to', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(description='PENDING: PENDING\nACTIVE: ACTIVE\nEXPIRED: EXPIRED', enum_type=GrantStatus, max_length=16)),
                ('due_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(default='system', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'point_grant', 'app': 'models', 'indexes': [Index(fields=['account_id', 'status'])], 'pk_attr': 'id', 'table_description': 'Points with a validity window: pending until valid-from, expiring at valid-to.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reward',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='rewards', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('type', fields.CharEnumField(description='VOUCHER: VOUCHER\nDISCOUNT_CODE: DISCOUNT_CODE\nGIFT: GIFT\nCREDIT: CREDIT\nPHYSICAL: PHYSICAL\nCUSTOM: CUSTOM', enum_type=RewardType, max_length=32)),
                ('value', fields.CharField(default='', max_length=100)),
                ('point_cost', fields.BigIntField()),
                ('definition', fields.ForeignKeyField('models.PointDefinition', source_field='definition_id', db_constraint=True, to_field='id', related_name='rewards', on_delete=OnDelete.RESTRICT)),
                ('stock', fields.IntField(null=True)),
                ('min_tier', fields.ForeignKeyField('models.Tier', source_field='min_tier_id', null=True, db_constraint=True, to_field='id', related_name='rewards', on_delete=OnDelete.SET_NULL)),
                ('cooldown_seconds', fields.IntField(null=True)),
                ('per_member_limit', fields.IntField(null=True)),
                ('available_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('available_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fulfillment_data', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('image_url', fields.CharField(null=True, max_length=2000)),
                ('enabled', fields.BooleanField(default=True)),
                ('archived_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'reward', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'archived_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberRewardUsage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='reward_usage', on_delete=OnDelete.CASCADE)),
                ('reward', fields.ForeignKeyField('models.Reward', source_field='reward_id', db_constraint=True, to_field='id', related_name='member_usage', on_delete=OnDelete.CASCADE)),
                ('redeemed_count', fields.IntField(default=0)),
                ('last_redeemed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_reward_usage', 'app': 'models', 'unique_together': (('member', 'reward'),), 'pk_attr': 'id', 'table_description': 'How often a member redeemed a reward and when last: the guard for limit and cooldown.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.CASCADE)),
                ('reward', fields.ForeignKeyField('models.Reward', source_field='reward_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('definition', fields.ForeignKeyField('models.PointDefinition', source_field='definition_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('quantity', fields.IntField()),
                ('points_spent', fields.BigIntField()),
                ('status', fields.CharEnumField(description='REDEEMED: REDEEMED\nPOSTPONED: POSTPONED\nRECOVERABLE_FAILURE: RECOVERABLE_FAILURE\nFULFILLED: FULFILLED\nFAILED: FAILED', enum_type=RedemptionStatus, max_length=32)),
                ('fulfillment_data', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('refunded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'redemption', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'created_at']), Index(fields=['tenant_id', 'status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RedemptionEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='redemption_events', on_delete=OnDelete.CASCADE)),
                ('redemption', fields.ForeignKeyField('models.Redemption', source_field='redemption_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='REDEEM_REQUESTED: REDEEM_REQUESTED\nPOINTS_WITHDRAWN: POINTS_WITHDRAWN\nSTATUS_CHANGED: STATUS_CHANGED\nPOINTS_REFUNDED: POINTS_REFUNDED\nSTOCK_RETURNED: STOCK_RETURNED\nWEBHOOK_POSTED: WEBHOOK_POSTED', enum_type=RedemptionEventKind, max_length=32)),
                ('message', fields.TextField(default='', unique=False)),
                ('from_status', fields.CharEnumField(null=True, description='REDEEMED: REDEEMED\nPOSTPONED: POSTPONED\nRECOVERABLE_FAILURE: RECOVERABLE_FAILURE\nFULFILLED: FULFILLED\nFAILED: FAILED', enum_type=RedemptionStatus, max_length=32)),
                ('to_status', fields.CharEnumField(null=True, description='REDEEMED: REDEEMED\nPOSTPONED: POSTPONED\nRECOVERABLE_FAILURE: RECOVERABLE_FAILURE\nFULFILLED: FULFILLED\nFAILED: FAILED', enum_type=RedemptionStatus, max_length=32)),
                ('data', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actor', fields.CharField(default='system', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'redemption_event', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
            ops.RunPython(_add_not_negative_checks.forward, _add_not_negative_checks.backward),
    ]
