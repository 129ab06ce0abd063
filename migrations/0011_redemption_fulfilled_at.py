from tortoise import migrations
from tortoise.migrations import operations as ops
from models.pointmaster.tables import SyncStatus
from tortoise import fields
from migrations._operations import CommentOnlyAlterField

class Migration(migrations.Migration):
    dependencies = [('models', '0010_commit_order')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Redemption',
            name='fulfilled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # FAILED joined the enum (0009): its members are only in the column comment.
        CommentOnlyAlterField(
            model_name='SyncBatch',
            name='status',
            field=fields.CharEnumField(default=SyncStatus.PENDING, description='PENDING: Pending\nPROCESSING: Processing\nCOMPLETED: Completed\nCOMPLETED_WITH_ERRORS: CompletedWithErrors\nFAILED: Failed', enum_type=SyncStatus, max_length=32),
        ),
    ]
