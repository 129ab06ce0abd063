"""Tenants for the API tests (the `gql` client is the suite's, tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.graphql_client import GraphQLClient, TenantSession, open_tenant


@pytest.fixture
async def tenant(gql: GraphQLClient) -> TenantSession:
    return await open_tenant(gql)


@pytest.fixture
async def other_tenant(gql: GraphQLClient) -> TenantSession:
    return await open_tenant(gql)
