"""Point currencies, accounts, the immutable ledger and point grants.

An account's `balance` is the spendable (active) amount and always equals the sum of
its ledger entries. Points with a future valid-from wait as PENDING grants and are
posted to the ledger when they activate; points with a valid-to are tracked as
ACTIVE grants whose unspent `remaining` is posted out as an EXPIRY entry when due.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from models.members.tables import Member
from models.tenancy.tables import PointMode, Tenant


class LedgerSource(StrEnum):
    PURCHASE = "PURCHASE"
    ADJUSTMENT = "ADJUSTMENT"
    RETURN = "RETURN"
    REDEMPTION = "REDEMPTION"
    REFUND = "REFUND"
    EXPIRY = "EXPIRY"
    BALANCE_SYNC = "BALANCE_SYNC"
    MANUAL = "MANUAL"
    AUTOMATION = "AUTOMATION"
    BONUS = "BONUS"
    OTHER = "OTHER"


class GrantStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"  # could not be settled (settle_error says why): neither activated nor expired


class ExpiryPolicy(StrEnum):
    """When points of a currency expire if their award gives no valid-to
    (models.points.expiry computes it)."""

    NEVER = "NEVER"
    AFTER_DAYS = "AFTER_DAYS"  # expiry_value days after earning
    AFTER_MONTHS = "AFTER_MONTHS"  # expiry_value calendar months after earning
    END_OF_MONTH = "END_OF_MONTH"  # end of the month of earning, + expiry_value months
    END_OF_YEAR = "END_OF_YEAR"  # end of the year of earning, + expiry_value years


class PointDefinition(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="point_definitions", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    # The integer `definitionId` of the point-master API, unique per tenant.
    external_id = fields.IntField()
    is_default = fields.BooleanField(default=False)
    # Overrides the tenant's point mode for this currency; null = the tenant's mode.
    point_mode = fields.CharEnumField(PointMode, max_length=32, null=True)
    expiry_policy = fields.CharEnumField(ExpiryPolicy, max_length=16, default=ExpiryPolicy.NEVER)
    expiry_value = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: UUID

    class Meta:
        table = "point_definition"
        unique_together = (("tenant", "name"), ("tenant", "external_id"))


class PointAccount(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="point_accounts", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="accounts", on_delete=fields.CASCADE
    )
    definition: fields.ForeignKeyRelation[PointDefinition] = fields.ForeignKeyField(
        "models.PointDefinition", related_name="accounts", on_delete=fields.RESTRICT
    )
    balance = fields.BigIntField(default=0)
    pending = fields.BigIntField(default=0)
    # Postings so far: each takes the next number, in the UPDATE that moves the balance.
    ledger_seq = fields.BigIntField(default=0)
    # Earliest valid-from of a pending grant or valid-to of an unspent expiring grant:
    # before this moment the account needs no settling.
    next_settle_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    tenant_id: UUID
    member_id: UUID
    definition_id: UUID

    class Meta:
        table = "point_account"
        unique_together = (("member", "definition"),)


class LedgerEntry(Model):
    """Immutable: corrections are new entries, never edits."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="ledger_entries", on_delete=fields.CASCADE
    )
    account: fields.ForeignKeyRelation[PointAccount] = fields.ForeignKeyField(
        "models.PointAccount", related_name="entries", on_delete=fields.CASCADE
    )
    amount = fields.BigIntField()
    balance_before = fields.BigIntField()
    balance_after = fields.BigIntField()
    source = fields.CharEnumField(LedgerSource, max_length=32)
    # The source as a point master named it (e.g. "Campaign" for an OTHER entry); else null.
    source_name = fields.TextField(null=True)
    description = fields.TextField(default="")
    valid_from = fields.DatetimeField(null=True)
    valid_to = fields.DatetimeField(null=True)
    redemption_id = fields.UUIDField(null=True, db_index=True)
    actor = fields.CharField(max_length=200, default="system")
    created_at = fields.DatetimeField(db_index=True)
    # The entry's place in its account's chain, taken under the account's lock: lists
    # follow it, so balance_before is always the balance_after of the entry listed next.
    seq = fields.BigIntField(default=0)

    tenant_id: UUID
    account_id: UUID

    class Meta:
        table = "ledger_entry"
        indexes = (("account_id", "created_at"), ("account_id", "seq"))


class PointGrant(Model):
    """Points with a validity window: pending until valid-from, expiring at valid-to."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="point_grants", on_delete=fields.CASCADE
    )
    account: fields.ForeignKeyRelation[PointAccount] = fields.ForeignKeyField(
        "models.PointAccount", related_name="grants", on_delete=fields.CASCADE
    )
    amount = fields.BigIntField()
    remaining = fields.BigIntField()
    source = fields.CharEnumField(LedgerSource, max_length=32)
    source_name = fields.TextField(null=True)  # copied to its ledger entry (LedgerEntry)
    description = fields.TextField(default="")
    valid_from = fields.DatetimeField(null=True)
    valid_to = fields.DatetimeField(null=True)
    status = fields.CharEnumField(GrantStatus, max_length=16)
    # Cron runs that could not settle this grant's account; at MAX_SETTLE_FAILURES it FAILED.
    settle_failures = fields.IntField(default=0)
    settle_error = fields.TextField(null=True)
    # When its `points.expiring_soon` webhook was written (once per grant).
    expiry_warned_at = fields.DatetimeField(null=True)
    # When the worker must look at it next: valid_from while PENDING, valid_to while ACTIVE.
    due_at = fields.DatetimeField(null=True, db_index=True)
    actor = fields.CharField(max_length=200, default="system")
    created_at = fields.DatetimeField()

    tenant_id: UUID
    account_id: UUID

    class Meta:
        table = "point_grant"
        indexes = (("account_id", "status"),)
