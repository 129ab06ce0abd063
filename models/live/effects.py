"""After-commit effects (core.after_commit) that tell live subscribers what changed.

Said where the change is made: a redemption's new events by the lifecycle and the redeem,
a member's balances by every ledger posting and grant. Merged per operation: one message
round per redemption and one balances read per tenant, however many postings.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core.after_commit import after_commit
from core.queue import JobQueue


@dataclass(frozen=True)
class RedemptionChanged:
    """Publish the redemption's events written at or after `since`."""

    tenant_id: UUID
    redemption_id: UUID
    since: datetime

    @property
    def key(self) -> Hashable:
        return ("redemption", self.redemption_id)

    def merge(self, later: RedemptionChanged) -> RedemptionChanged:
        return RedemptionChanged(self.tenant_id, self.redemption_id, min(self.since, later.since))

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        # models.live.messages reads accounts through models.points, which says this effect.
        from models.live.messages import announce_redemption

        if broker is not None:
            await announce_redemption(broker, self.tenant_id, self.redemption_id, self.since)


@dataclass(frozen=True)
class BalancesChanged:
    """Publish the current balances of members of one tenant."""

    tenant_id: UUID
    member_ids: frozenset[UUID]

    @property
    def key(self) -> Hashable:
        return ("balances", self.tenant_id)

    def merge(self, later: BalancesChanged) -> BalancesChanged:
        return BalancesChanged(self.tenant_id, self.member_ids | later.member_ids)

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        from models.live.messages import announce_members_balances

        if broker is not None:
            await announce_members_balances(broker, self.tenant_id, set(self.member_ids))


def redemption_changed(tenant_id: UUID, redemption_id: UUID, since: datetime) -> None:
    after_commit(RedemptionChanged(tenant_id, redemption_id, since))


def balances_changed(tenant_id: UUID, *member_ids: UUID) -> None:
    if member_ids:
        after_commit(BalancesChanged(tenant_id, frozenset(member_ids)))
