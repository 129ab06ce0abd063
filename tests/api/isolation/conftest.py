"""Tenant A built once per test module; a new tenant B for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from tests.api.isolation.world import Alpha, World, build_alpha, with_beta
from tests.conftest import delete_all_rows
from tests.graphql_client import GraphQLClient, in_process


@pytest.fixture(scope="module")
async def alpha(db: str, settings: Settings) -> AsyncIterator[Alpha]:
    """Kept for the whole module (its tests are marked `module_world`, so the suite does not
    empty the tables after each), emptied after its last test."""
    async with in_process(settings) as client:
        yield await build_alpha(client)
    await delete_all_rows()


@pytest.fixture
async def world(gql: GraphQLClient, alpha: Alpha) -> World:
    return await with_beta(gql, alpha)
