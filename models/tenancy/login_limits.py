"""Admin login with limits on attempts, per account and per client address.

Each attempt is counted before the password is checked (so concurrent guesses cannot slip
past the limit together) and taken back when it succeeds; past the limit the attempt is
refused without checking the password, the right one included, until the window ends.
The counters live in Redis, so every API process enforces the same limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.rate_limit import Counters, Limit, RateLimited, key_part, tightest
from models.tenancy.access import authenticate_admin
from models.tenancy.tables import TenantAdmin


@dataclass(frozen=True)
class LoginLimits:
    window: int  # seconds
    per_account: int
    per_address: int


async def login_admin(
    email: str, password: str, address: str, counters: Counters, limits: LoginLimits
) -> TenantAdmin:
    """The admin with these credentials. Raises core.errors.Unauthenticated, or RateLimited while the
    account or the address has too many failed attempts."""
    account_key = f"login:account:{key_part(email.strip().lower())}"
    address_key = f"login:address:{address}"
    counted = [
        limit
        for limit in (
            Limit(account_key, limits.per_account, limits.window),
            Limit(address_key, limits.per_address, limits.window),
        )
        if limit.limit > 0
    ]
    counts = await counters.hit(counted)
    if counts:
        shown = tightest(counts)
        if shown.exceeded:
            raise RateLimited(f"Too many failed logins: try again in {shown.reset} s", shown.reset)
    admin = await authenticate_admin(email, password)  # a failure stays counted
    if counts:
        # Right at last: the account starts afresh; the address keeps only its failures.
        for limit in counted:
            if limit.key == account_key:
                await counters.clear(account_key)
            else:
                await counters.undo(address_key)
    return admin
