"""`gamify tenant list`, `gamify apikey list|revoke`, `gamify admin reset-password`: what an
operator needs when the first start's output is lost or a key leaked."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from core.errors import InvalidInput, NotFound
from core.security import hash_password
from core.settings import load_settings
from engine import runtime
from models.tenancy.access import MIN_PASSWORD_LENGTH, revoke_api_key
from models.tenancy.tables import ApiKey, Tenant, TenantAdmin


def add_commands(
    commands: Any, tenant: Any, apikey: Any, run: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    """The subcommands, added to `gamify`'s commands and its `tenant` and `apikey` actions;
    `run` runs a coroutine (on uvloop, as the other commands)."""

    def with_db(action: Callable[[argparse.Namespace], Awaitable[None]]) -> Callable[..., int]:
        def command(args: argparse.Namespace) -> int:
            async def in_database() -> None:
                settings = load_settings()
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                async with runtime.command(settings):
                    await action(args)

            run(in_database())
            return 0

        return command

    listing = tenant.add_parser("list", help="list the tenants: slug, name, point mode, id")
    listing.set_defaults(command=with_db(_list_tenants))

    keys = apikey.add_parser("list", help="list a tenant's API keys (prefixes only)")
    keys.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
    keys.set_defaults(command=with_db(_list_keys))
    revoke = apikey.add_parser("revoke", help="revoke an API key at once")
    revoke.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
    revoke.add_argument(
        "--prefix", required=True, help="the key's prefix as listed (gk_ and 6 characters)"
    )
    revoke.set_defaults(command=with_db(_revoke_key))

    admin = commands.add_parser("admin", help="manage tenant admins").add_subparsers(
        required=True, metavar="ACTION"
    )
    reset = admin.add_parser("reset-password", help="set a new password for an admin")
    reset.add_argument("--email", required=True, help="the admin's login email")
    reset.add_argument(
        "--password", help=f"the new password (at least {MIN_PASSWORD_LENGTH} characters); "
        "generated and printed once when omitted"
    )  # fmt: skip
    reset.set_defaults(command=with_db(_reset_password))


async def _tenant(slug: str) -> Tenant:
    tenant = await Tenant.get_or_none(slug=slug)
    if tenant is None:
        raise NotFound(f"No tenant with slug {slug!r}", field="tenant")
    return tenant


async def _list_tenants(args: argparse.Namespace) -> None:
    tenants = await Tenant.all().order_by("slug")
    if not tenants:
        print("No tenants")
    for t in tenants:
        print(f"{t.slug}\t{t.name}\t{t.point_mode}\t{t.id}")


async def _list_keys(args: argparse.Namespace) -> None:
    tenant = await _tenant(args.tenant)
    keys = await ApiKey.filter(tenant_id=tenant.id).order_by("created_at")
    if not keys:
        print(f"No API keys for {tenant.slug}")
    for key in keys:
        state = f"revoked {key.revoked_at.isoformat()}" if key.revoked_at else "active"
        print(f"{key.prefix}...\t{key.name}\t{key.created_at.isoformat()}\t{state}")


async def _revoke_key(args: argparse.Namespace) -> None:
    tenant = await _tenant(args.tenant)
    prefix = args.prefix.removesuffix("...")
    matches = await ApiKey.filter(tenant_id=tenant.id, prefix=prefix)
    if len(matches) != 1:
        found = "No key" if not matches else f"{len(matches)} keys"
        raise NotFound(f"{found} of {tenant.slug} with prefix {prefix!r}", field="prefix")
    key = await revoke_api_key(tenant.id, matches[0].id)
    assert key.revoked_at is not None
    print(f"Revoked {key.prefix}... ({key.name}) at {key.revoked_at.isoformat()}")


async def _reset_password(args: argparse.Namespace) -> None:
    password = args.password or secrets.token_urlsafe(18)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Use at least {MIN_PASSWORD_LENGTH} characters", field="password")
    email = args.email.strip().lower()
    updated = await TenantAdmin.filter(email=email).update(password_hash=hash_password(password))
    if not updated:
        raise NotFound(f"No admin with email {email!r}", field="email")
    print(f"Password of {email} reset")
    if not args.password:
        print(f"New password (shown once): {password}")
