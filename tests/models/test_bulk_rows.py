"""Rows for hand-written INSERTs: `db_row` writes what Tortoise's model would."""

from __future__ import annotations

from uuid import uuid4

import pytest

from core import clock
from models.db.bulk_statements import db_row, row_of
from models.members.tables import Member
from models.redemptions.tables import RedemptionEvent, RedemptionEventKind, RedemptionStatus


async def test_a_row_made_from_fields_is_the_row_of_the_model_made_from_them(db: str) -> None:
    # given an event's fields, some left out (message and from_status have defaults)
    fields = {
        "tenant_id": uuid4(),
        "redemption_id": uuid4(),
        "kind": RedemptionEventKind.POINTS_WITHDRAWN,
        "to_status": RedemptionStatus.REDEEMED,
        "data": {"amount": 10, "text": "ünïcode", "big": 2**70},
        "created_at": clock.now(),
    }
    # when made into a row without a model
    row = db_row(RedemptionEvent, fields)
    # then it is what the model's own row would be, the defaults included
    assert row == row_of(RedemptionEvent(**fields))
    assert (row["message"], row["from_status"], row["actor"]) == ("", None, "system")


async def test_a_model_that_sets_its_own_times_is_refused(db: str) -> None:
    # Member's created_at is auto_now_add: only the model itself knows its value.
    with pytest.raises(TypeError, match="created_at"):
        db_row(Member, {"tenant_id": uuid4(), "external_user_id": "m-1"})
