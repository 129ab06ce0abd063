"""Identical requests are validated once: the limits must not defeat ValidationCache."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry.schema.schema as strawberry_schema

from tests.graphql_client import GraphQLClient, TenantSession


async def test_identical_requests_are_validated_once(
    gql: GraphQLClient, tenant: TenantSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a counter on the validation strawberry caches
    calls: list[Any] = []
    original = strawberry_schema.validate_document

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    from strawberry.extensions import validation_cache

    validation_cache._get_validate_cache.cache_clear()
    query = "{ tiers { id name } pointDefinitions { id name } }"
    # when the same document is sent five times
    for _ in range(5):
        body = await gql(query, token=tenant.api_key)
        assert "errors" not in body
    # then it was validated once
    assert len(calls) == 1
