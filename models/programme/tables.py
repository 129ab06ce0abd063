"""Rows of the programme: member events, earning rules, what each rule awarded, cap counters."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.members.tables import Member
from models.points.tables import PointDefinition
from models.tenancy.tables import Tenant


class AwardKind(StrEnum):
    FIXED = "FIXED"  # `points` per event
    PER_UNIT = "PER_UNIT"  # `points` per `unit_amount` of the event's amount, rounded


class Rounding(StrEnum):
    FLOOR = "FLOOR"
    HALF_UP = "HALF_UP"
    CEIL = "CEIL"


class MemberEvent(Model):
    """Something a member did, as the tenant's backend reported it, stored once per key."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="member_events", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="events", on_delete=fields.CASCADE
    )
    type = fields.CharField(max_length=64)
    occurred_at = fields.DatetimeField()
    received_at = fields.DatetimeField()
    properties: dict[str, object] = fields.JSONField(default=dict)
    idempotency_key = fields.CharField(max_length=200)
    request_hash = fields.CharField(max_length=64)
    # A purchase's or return's order; `purchase_order` is set on purchases only, so one
    # order earns once however often (and with whichever key) it is reported.
    order_id = fields.CharField(max_length=200, null=True)
    purchase_order = fields.CharField(max_length=200, null=True)
    actor = fields.CharField(max_length=200, default="system")

    tenant_id: UUID
    member_id: UUID

    class Meta:
        table = "member_event"
        unique_together = (("tenant", "idempotency_key"), ("tenant", "purchase_order"))
        indexes = (("tenant_id", "order_id"), ("member_id", "occurred_at"))


class EarningRule(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="earning_rules", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    event_type = fields.CharField(max_length=64)
    # {"all": [...]} / {"any": [...]} of {"property", "op", "value"} (models.programme.conditions)
    conditions: dict[str, object] = fields.JSONField(default=dict)
    award_kind = fields.CharEnumField(AwardKind, max_length=16)
    points = fields.BigIntField()
    unit_amount = fields.DecimalField(max_digits=18, decimal_places=4, null=True)
    unit_property = fields.CharField(max_length=100, default="amount")
    rounding = fields.CharEnumField(Rounding, max_length=16, default=Rounding.FLOOR)
    point_definition: fields.ForeignKeyRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition", related_name="earning_rules", on_delete=fields.RESTRICT
    )
    pending_days = fields.IntField(default=0)  # points wait this long (a pending grant)
    validity_days = fields.IntField(null=True)  # then expire after this long; null = never
    cap_member_day = fields.BigIntField(null=True)  # points per member per UTC day
    cap_member_month = fields.BigIntField(null=True)
    cap_total = fields.BigIntField(null=True)  # points the rule may award in all
    active_from = fields.DatetimeField(null=True)  # of the event's occurred_at
    active_until = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    tenant_id: UUID
    point_definition_id: UUID

    class Meta:
        table = "earning_rule"
        unique_together = (("tenant", "name"),)
        indexes = (("tenant_id", "event_type"),)


class RuleAward(Model):
    """Points one rule gave for one event (or, negative, took back for a return)."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="rule_awards", on_delete=fields.CASCADE
    )
    rule: fields.ForeignKeyRelation[EarningRule] = fields.ForeignKeyField(
        "models.EarningRule", related_name="awards", on_delete=fields.CASCADE
    )
    event: fields.ForeignKeyRelation[MemberEvent] = fields.ForeignKeyField(
        "models.MemberEvent", related_name="awards", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="rule_awards", on_delete=fields.CASCADE
    )
    point_definition_id = fields.UUIDField()
    points = fields.BigIntField()
    requested = fields.BigIntField()  # before caps (a takeback: what the return asked for)
    # Points of this award later taken back by returns (guarded: never above `points`).
    taken_back = fields.BigIntField(default=0)
    reverses: fields.ForeignKeyNullableRelation[RuleAward] = fields.ForeignKeyField(
        "models.RuleAward", related_name="reversals", null=True, on_delete=fields.CASCADE
    )
    # Where the points went: a ledger entry, a grant (pending or expiring), or the master.
    ledger_entry_id = fields.UUIDField(null=True)
    grant_id = fields.UUIDField(null=True)
    forwarded_id = fields.UUIDField(null=True)
    note = fields.TextField(default="")  # why fewer points than requested
    created_at = fields.DatetimeField()

    tenant_id: UUID
    rule_id: UUID
    event_id: UUID
    member_id: UUID
    reverses_id: UUID | None

    class Meta:
        table = "rule_award"
        indexes = (("event_id",), ("rule_id", "created_at"))


class RuleCapCounter(Model):
    """Points a rule awarded within one cap's scope: `<member id>:day:<date>`,
    `<member id>:month:<yyyy-mm>` or `total`. Moved only by guarded UPDATEs."""

    id = fields.UUIDField(primary_key=True)
    rule: fields.ForeignKeyRelation[EarningRule] = fields.ForeignKeyField(
        "models.EarningRule", related_name="cap_counters", on_delete=fields.CASCADE
    )
    scope = fields.CharField(max_length=100)
    used = fields.BigIntField(default=0)
    # What the last guarded UPDATE granted: computed from the same old row as `used`.
    last_granted = fields.BigIntField(default=0)

    rule_id: UUID

    class Meta:
        table = "rule_cap_counter"
        unique_together = (("rule", "scope"),)
