from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_redemption_forwards')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TenantOrigin',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='origins', on_delete=OnDelete.CASCADE)),
                ('origin', fields.CharField(db_index=True, max_length=300)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tenant_origin', 'app': 'models', 'unique_together': (('tenant', 'origin'),), 'pk_attr': 'id', 'table_description': 'A browser origin (`scheme://host[:port]`) whose pages may call the API with the'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Reward',
            name='public_data',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
