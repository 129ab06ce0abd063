from tortoise import migrations
from tortoise.migrations import operations as ops
from models.redemptions.tables import RedemptionEventKind
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_webhooks')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='RedemptionEvent',
            name='kind',
            field=fields.CharEnumField(description='REDEEM_REQUESTED: REDEEM_REQUESTED\nPOINTS_WITHDRAWN: POINTS_WITHDRAWN\nSTATUS_CHANGED: STATUS_CHANGED\nPOINTS_REFUNDED: POINTS_REFUNDED\nSTOCK_RETURNED: STOCK_RETURNED\nWEBHOOK_POSTED: WEBHOOK_POSTED\nDATA_ADDED: DATA_ADDED', enum_type=RedemptionEventKind, max_length=32),
        ),
    ]
