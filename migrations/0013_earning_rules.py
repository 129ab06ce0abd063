from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.programme.tables import AwardKind, Rounding
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0012_grant_settle_failures")]

    initial = False

    operations = [
        ops.CreateModel(
            name="EarningRule",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "tenant",
                    fields.ForeignKeyField(
                        "models.Tenant",
                        source_field="tenant_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="earning_rules",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("description", fields.TextField(default="", unique=False)),
                ("event_type", fields.CharField(max_length=64)),
                (
                    "conditions",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "award_kind",
                    fields.CharEnumField(
                        description="FIXED: FIXED\nPER_UNIT: PER_UNIT",
                        enum_type=AwardKind,
                        max_length=16,
                    ),
                ),
                ("points", fields.BigIntField()),
                ("unit_amount", fields.DecimalField(null=True, max_digits=18, decimal_places=4)),
                ("unit_property", fields.CharField(default="amount", max_length=100)),
                (
                    "rounding",
                    fields.CharEnumField(
                        default=Rounding.FLOOR,
                        description="FLOOR: FLOOR\nHALF_UP: HALF_UP\nCEIL: CEIL",
                        enum_type=Rounding,
                        max_length=16,
                    ),
                ),
                (
                    "point_definition",
                    fields.ForeignKeyField(
                        "models.PointDefinition",
                        source_field="point_definition_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="earning_rules",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("pending_days", fields.IntField(default=0)),
                ("validity_days", fields.IntField(null=True)),
                ("cap_member_day", fields.BigIntField(null=True)),
                ("cap_member_month", fields.BigIntField(null=True)),
                ("cap_total", fields.BigIntField(null=True)),
                (
                    "active_from",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "active_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("active", fields.BooleanField(default=True)),
                (
                    "archived_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "earning_rule",
                "app": "models",
                "unique_together": (("tenant", "name"),),
                "indexes": [Index(fields=["tenant_id", "event_type"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MemberEvent",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "tenant",
                    fields.ForeignKeyField(
                        "models.Tenant",
                        source_field="tenant_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="member_events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "member",
                    fields.ForeignKeyField(
                        "models.Member",
                        source_field="member_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("type", fields.CharField(max_length=64)),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "properties",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("idempotency_key", fields.CharField(max_length=200)),
                ("request_hash", fields.CharField(max_length=64)),
                ("order_id", fields.CharField(null=True, max_length=200)),
                ("purchase_order", fields.CharField(null=True, max_length=200)),
                ("actor", fields.CharField(default="system", max_length=200)),
            ],
            options={
                "table": "member_event",
                "app": "models",
                "unique_together": (("tenant", "idempotency_key"), ("tenant", "purchase_order")),
                "indexes": [
                    Index(fields=["tenant_id", "order_id"]),
                    Index(fields=["member_id", "occurred_at"]),
                ],
                "pk_attr": "id",
                "table_description": "Something a member did, as the tenant's backend reported it, stored once per key.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RuleAward",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "tenant",
                    fields.ForeignKeyField(
                        "models.Tenant",
                        source_field="tenant_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_awards",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "rule",
                    fields.ForeignKeyField(
                        "models.EarningRule",
                        source_field="rule_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="awards",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "event",
                    fields.ForeignKeyField(
                        "models.MemberEvent",
                        source_field="event_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="awards",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "member",
                    fields.ForeignKeyField(
                        "models.Member",
                        source_field="member_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_awards",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("point_definition_id", fields.UUIDField()),
                ("points", fields.BigIntField()),
                ("requested", fields.BigIntField()),
                ("taken_back", fields.BigIntField(default=0)),
                (
                    "reverses",
                    fields.ForeignKeyField(
                        "models.RuleAward",
                        source_field="reverses_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="reversals",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("ledger_entry_id", fields.UUIDField(null=True)),
                ("grant_id", fields.UUIDField(null=True)),
                ("forwarded_id", fields.UUIDField(null=True)),
                ("note", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "rule_award",
                "app": "models",
                "indexes": [Index(fields=["event_id"]), Index(fields=["rule_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "Points one rule gave for one event (or, negative, took back for a return).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RuleCapCounter",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "rule",
                    fields.ForeignKeyField(
                        "models.EarningRule",
                        source_field="rule_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="cap_counters",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("scope", fields.CharField(max_length=100)),
                ("used", fields.BigIntField(default=0)),
                ("last_granted", fields.BigIntField(default=0)),
            ],
            options={
                "table": "rule_cap_counter",
                "app": "models",
                "unique_together": (("rule", "scope"),),
                "pk_attr": "id",
                "table_description": "Points a rule awarded within one cap's scope: `<member id>:day:<date>`,",
            },
            bases=["Model"],
        ),
    ]
