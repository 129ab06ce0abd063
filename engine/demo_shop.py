"""`gamify demo-shop`: a pretend shop on a second port, embedding the rewards widget.

It is what a real shop needs and no more: a page on its own origin that loads the widget
from the engine, and a backend endpoint that mints a member token with the shop's API key
(`createMemberToken`), so the key never reaches the browser. On start it gives the demo
tenant a fresh API key of its own and allows the shop's origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from engine.bootstrap import DEMO_MEMBER_ID, DEMO_SLUG
from models.tenancy.access import create_api_key, revoke_api_key
from models.tenancy.origins import set_tenant_origins, tenant_origins
from models.tenancy.tables import ApiKey, Tenant

PAGE = Path(__file__).resolve().parent.parent / "web" / "demo-shop" / "index.html"
KEY_NAME = "Demo shop"
MINT = """
mutation($member: String!) {
  createMemberToken(externalUserId: $member) { token expiresAt errors { code message } }
}"""


@dataclass(frozen=True)
class ShopConfig:
    engine_url: str  # http://127.0.0.1:8000, as the shop's backend and visitors reach it
    api_key: str
    member: str = DEMO_MEMBER_ID


async def open_demo_shop(origins: list[str]) -> str:
    """A new API key for the shop (the previous shop keys revoked: only hashes are kept,
    so a restarted shop cannot reuse its old one) and the shop's origins allowed."""
    tenant = await Tenant.get_or_none(slug=DEMO_SLUG)
    if tenant is None:
        raise LookupError("No demo tenant: start the engine once with `gamify serve` first")
    for old in await ApiKey.filter(tenant_id=tenant.id, name=KEY_NAME, revoked_at__isnull=True):
        await revoke_api_key(tenant.id, old.id)
    _, key = await create_api_key(tenant.id, KEY_NAME)
    known = await tenant_origins(tenant.id)
    await set_tenant_origins(tenant.id, known + [o for o in origins if o not in known])
    return key


def shop_app(config: ShopConfig) -> Starlette:
    async def page(_request: Request) -> FileResponse:
        return FileResponse(PAGE, headers={"Cache-Control": "no-cache"})

    async def member_token(_request: Request) -> JSONResponse:
        # A real shop checks its own session here; the demo always signs in its one member.
        async with httpx.AsyncClient(base_url=config.engine_url, timeout=10) as engine:
            response = await engine.post(
                "/graphql",
                json={"query": MINT, "variables": {"member": config.member}},
                headers={"Authorization": f"Bearer {config.api_key}"},
            )
        minted = (response.json().get("data") or {}).get("createMemberToken") or {}
        if not minted.get("token"):
            return JSONResponse({"error": "The engine gave no token", "detail": minted}, 502)
        return JSONResponse(
            {
                "token": minted["token"],
                "expiresAt": minted["expiresAt"],
                "endpoint": f"{config.engine_url}/graphql",
            }
        )

    return Starlette(
        routes=[Route("/", page), Route("/member-token", member_token, methods=["POST"])]
    )
