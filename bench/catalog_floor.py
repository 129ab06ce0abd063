"""The floor for bench/catalog.py: the widget's catalog read served from memory.

A bare Strawberry app (Starlette + strawberry's ASGI GraphQL app, parser and validation
caches on) with the engine's field names and types for the benchmark's query, whose
resolvers return objects built once at startup from the engine's own response (the JSON
file named by CATALOG_FLOOR_DATA). No database, no authentication, no middleware: what
the same response costs on this stack with nothing else in the way.

    CATALOG_FLOOR_DATA=/tmp/data.json uvicorn --factory catalog_floor:app  (PYTHONPATH=bench)
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.enum
class RedeemBlockReason(Enum):
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    TIER_REQUIRED = "TIER_REQUIRED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    COOLDOWN = "COOLDOWN"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_AVAILABLE = "NOT_AVAILABLE"


@strawberry.type
class PointAccount:
    balance: int
    pending: int | None


@strawberry.type
class Member:
    accounts: list[PointAccount]


@strawberry.type
class Reward:
    id: strawberry.ID
    name: str
    point_cost: int
    stock: int | None
    image_url: str | None


@strawberry.type
class CatalogItem:
    reward: Reward
    can_redeem: bool
    reason: RedeemBlockReason | None


@strawberry.type
class CatalogConnection:
    nodes: list[CatalogItem]


def build(data: dict[str, Any]) -> tuple[Member, CatalogConnection]:
    me = Member(accounts=[PointAccount(**a) for a in data["me"]["accounts"]])
    nodes = [
        CatalogItem(
            reward=Reward(
                id=strawberry.ID(n["reward"]["id"]),
                name=n["reward"]["name"],
                point_cost=n["reward"]["pointCost"],
                stock=n["reward"]["stock"],
                image_url=n["reward"]["imageUrl"],
            ),
            can_redeem=n["canRedeem"],
            reason=RedeemBlockReason(n["reason"]) if n["reason"] else None,
        )
        for n in data["catalog"]["nodes"]
    ]
    return me, CatalogConnection(nodes=nodes)


def app() -> Starlette:
    me, catalog = build(json.loads(Path(os.environ["CATALOG_FLOOR_DATA"]).read_text())["data"])

    @strawberry.type
    class Query:
        # async, as the engine's resolvers are
        @strawberry.field
        async def me(self) -> Member | None:
            return me

        @strawberry.field(name="catalog")
        async def catalog_(self, first: int | None = None) -> CatalogConnection:
            return CatalogConnection(nodes=catalog.nodes[: first or len(catalog.nodes)])

    schema = strawberry.Schema(
        query=Query,
        extensions=[lambda: ParserCache(maxsize=1000), lambda: ValidationCache(maxsize=1000)],
    )
    return Starlette(
        routes=[
            Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"]),
            Route("/health", lambda _request: PlainTextResponse("ok")),
        ]
    )
