from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_pointmaster')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='LedgerEntry',
            index=Index(fields=['account_id', 'created_at']),
        ),
        ops.AddIndex(
            model_name='Redemption',
            index=Index(fields=['member_id', 'created_at']),
        ),
        ops.AddIndex(
            model_name='RedemptionEvent',
            index=Index(fields=['redemption_id', 'id']),
        ),
        ops.AddIndex(
            model_name='RedemptionEvent',
            index=Index(fields=['tenant_id', 'id']),
        ),
        ops.AddIndex(
            model_name='WebhookAttempt',
            index=Index(fields=['delivery_id', 'id']),
        ),
    ]
