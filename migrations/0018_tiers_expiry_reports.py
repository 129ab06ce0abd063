from tortoise import migrations
from tortoise.migrations import operations as ops
from models.points.tables import ExpiryPolicy
from models.tiers.tables import TierBasis, TierChangeReason
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index
from migrations._operations import AddColumnWithDefault

class Migration(migrations.Migration):
    dependencies = [('models', '0017_code_pools')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TierChange',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='tier_changes', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='tier_changes', on_delete=OnDelete.CASCADE)),
                ('from_tier', fields.ForeignKeyField('models.Tier', source_field='from_tier_id', null=True, db_constraint=True, to_field='id', related_name='changes_from', on_delete=OnDelete.SET_NULL)),
                ('to_tier', fields.ForeignKeyField('models.Tier', source_field='to_tier_id', null=True, db_constraint=True, to_field='id', related_name='changes_to', on_delete=OnDelete.SET_NULL)),
                ('from_name', fields.CharField(null=True, max_length=100)),
                ('to_name', fields.CharField(null=True, max_length=100)),
                ('reason', fields.CharEnumField(description='UPGRADE: UPGRADE\nDOWNGRADE: DOWNGRADE\nMANUAL: MANUAL', enum_type=TierChangeReason, max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
                ('activity', fields.BigIntField(null=True)),
                ('actor', fields.CharField(default='system', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tier_change', 'app': 'models', 'indexes': [Index(fields=['member_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "One change of a member's tier, written in the transaction that makes it."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TierPolicy',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.OneToOneField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='tier_policy', on_delete=OnDelete.CASCADE)),
                ('enabled', fields.BooleanField(default=False)),
                ('basis', fields.CharEnumField(default=TierBasis.POINTS_EARNED, description='POINTS_EARNED: POINTS_EARNED\nPURCHASE_POINTS: PURCHASE_POINTS', enum_type=TierBasis, max_length=24)),
                ('definition', fields.ForeignKeyField('models.PointDefinition', source_field='definition_id', null=True, db_constraint=True, to_field='id', related_name='tier_policies', on_delete=OnDelete.SET_NULL)),
                ('window_months', fields.IntField(default=12)),
                ('review_months', fields.IntField(default=12)),
                ('grace_days', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'tier_policy', 'app': 'models', 'pk_attr': 'id', 'table_description': "How a tenant's tiers are computed: one per tenant (none = tiers are set by hand)."},
            bases=['Model'],
        ),
        AddColumnWithDefault(
            model_name='Member',
            name='tier_in_grace',
            field=fields.BooleanField(default=False),
            sql={
                'sqlite': 'ALTER TABLE "member" ADD COLUMN "tier_in_grace" INT NOT NULL DEFAULT 0',
                'postgres': 'ALTER TABLE "member" ADD COLUMN "tier_in_grace" BOOL NOT NULL DEFAULT FALSE',
            },
        ),
        AddColumnWithDefault(
            model_name='Member',
            name='tier_override',
            field=fields.BooleanField(default=False),
            sql={
                'sqlite': 'ALTER TABLE "member" ADD COLUMN "tier_override" INT NOT NULL DEFAULT 0',
                'postgres': 'ALTER TABLE "member" ADD COLUMN "tier_override" BOOL NOT NULL DEFAULT FALSE',
            },
        ),
        ops.AddField(
            model_name='Member',
            name='tier_override_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Member',
            name='tier_override_until',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Member',
            name='tier_review_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        AddColumnWithDefault(
            model_name='PointDefinition',
            name='expiry_policy',
            field=fields.CharEnumField(default=ExpiryPolicy.NEVER, description='NEVER: NEVER\nAFTER_DAYS: AFTER_DAYS\nAFTER_MONTHS: AFTER_MONTHS\nEND_OF_MONTH: END_OF_MONTH\nEND_OF_YEAR: END_OF_YEAR', enum_type=ExpiryPolicy, max_length=16),
            sql={
                'sqlite': "ALTER TABLE \"point_definition\" ADD COLUMN \"expiry_policy\" VARCHAR(16) NOT NULL DEFAULT 'NEVER'",
                'postgres': "ALTER TABLE \"point_definition\" ADD COLUMN \"expiry_policy\" VARCHAR(16) NOT NULL DEFAULT 'NEVER'",
            },
        ),
        ops.AddField(
            model_name='PointDefinition',
            name='expiry_value',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Tier',
            name='min_value',
            field=fields.BigIntField(null=True),
        ),
    ]
