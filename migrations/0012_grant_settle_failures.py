from tortoise import migrations
from tortoise.migrations import operations as ops
from models.points.tables import GrantStatus
from tortoise import fields
from migrations._operations import AddColumnWithDefault, CommentOnlyAlterField


class Migration(migrations.Migration):
    dependencies = [('models', '0011_redemption_fulfilled_at')]

    initial = False

    operations = [
        # FAILED joined the enum: its members are only in the column comment.
        CommentOnlyAlterField(
            model_name='PointGrant',
            name='status',
            field=fields.CharEnumField(description='PENDING: PENDING\nACTIVE: ACTIVE\nEXPIRED: EXPIRED\nFAILED: FAILED', enum_type=GrantStatus, max_length=16),
        ),
        ops.AddField(
            model_name='PointGrant',
            name='settle_error',
            field=fields.TextField(null=True, unique=False),
        ),
        AddColumnWithDefault(
            model_name='PointGrant',
            name='settle_failures',
            field=fields.IntField(default=0),
            sql={
                'sqlite': 'ALTER TABLE "point_grant" ADD COLUMN "settle_failures" INT NOT NULL DEFAULT 0',
                'postgres': 'ALTER TABLE "point_grant" ADD COLUMN "settle_failures" INT NOT NULL DEFAULT 0',
            },
        ),
    ]
