"""Who is reading: the scope every read of the domains' `reads` modules is cut to.

A plain value, built by resolvers/auth.py from the caller's credential: the tenant, and the
member when a member token reads (its own rows only). Each domain's `reads.py` turns it into
querysets already filtered ("what this caller may read"), so no resolver writes a tenant
filter or a member branch by hand, and a foreign id is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Reader:
    tenant_id: UUID
    member_id: UUID | None = None  # set for a member token: it reads only its own rows

    @property
    def is_member(self) -> bool:
        return self.member_id is not None
