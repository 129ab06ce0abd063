"""What the fuzz run (tests/fuzz) found, each as a test: every error of a GraphQL answer
carries `extensions.code`, whatever the caller got wrong."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings
from tests.graphql_client import GraphQLClient, TenantSession


def _codes(body: dict[str, Any]) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in body["errors"]]


# What graphql-core refuses before any resolver runs, in the shapes the fuzzer sent.
REFUSED_DOCUMENTS = {
    "a string for an Int": '{ members(first: "x") { nodes { id } } }',
    "an Int beyond 32 bits": "{ members(first: 3934046239758) { nodes { id } } }",
    "a boolean for an ID": "{ reward(id: true) { id } }",
    "a number for a String": "mutation { createApiKey(name: -327) { key } }",
    "a value outside an enum": "{ syncBatches(status: NOPE) { nodes { id } } }",
    "null for a required argument": "mutation { createApiKey(name: null) { key } }",
    "a required argument left out": "mutation { revokeApiKey { key } }",
    "an input without its required field": "mutation { upsertMember(input: {}) { created } }",
    "a field the type does not have": "{ tiers { id colour } }",
    "a malformed DateTime": '{ redemptionCounts(since: "yesterday") { count } }',
}


@pytest.mark.parametrize("document", REFUSED_DOCUMENTS.values(), ids=REFUSED_DOCUMENTS.keys())
async def test_a_document_the_schema_refuses_is_coded(
    gql: GraphQLClient, tenant: TenantSession, document: str
) -> None:
    # given a document the schema does not validate
    # when the tenant's backend sends it
    body = await gql(document, token=tenant.api_key)
    # then it is refused with a code, before anything ran
    assert body["data"] is None
    assert _codes(body) == ["GRAPHQL_VALIDATION_FAILED"] * len(body["errors"]), body


async def test_a_syntax_error_is_coded(gql: GraphQLClient, tenant: TenantSession) -> None:
    # given a document cut short
    # when it is sent
    body = await gql("{ members(first: 3", token=tenant.api_key)
    # then the parse failure says so, with a code
    assert body["errors"][0]["message"].startswith("Syntax Error")
    assert _codes(body) == ["GRAPHQL_PARSE_FAILED"]


async def test_a_document_over_the_token_limit_is_coded(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given a document with more tokens than the limit allows
    fields = " ".join("id" for _ in range(settings.max_query_tokens))
    # when it is sent
    body = await gql(f"{{ tiers {{ {fields} }} }}", token=tenant.api_key)
    # then it is refused while parsing, with a code
    assert _codes(body) == ["GRAPHQL_PARSE_FAILED"]


async def test_a_document_over_the_alias_limit_is_coded(
    gql: GraphQLClient, tenant: TenantSession, settings: Settings
) -> None:
    # given a document with one alias more than the limit allows
    aliases = " ".join(f"t{n}: tiers {{ id }}" for n in range(settings.max_query_aliases + 1))
    # when it is sent
    body = await gql(f"{{ {aliases} }}", token=tenant.api_key)
    # then it is refused by validation, with a code
    assert body["data"] is None
    assert _codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [({"first": "ten"}, "BAD_USER_INPUT"), ({}, "BAD_USER_INPUT")],
    ids=["a string for an Int", "a required variable left out"],
)
async def test_a_variable_of_the_wrong_type_is_coded(
    gql: GraphQLClient, tenant: TenantSession, variables: dict[str, Any], expected: str
) -> None:
    # given a valid document whose variable is wrong
    document = "query($first: Int!) { members(first: $first) { nodes { id } } }"
    # when it is sent
    body = await gql(document, variables, tenant.api_key)
    # then the variable is refused with a code
    assert body["data"] is None
    assert _codes(body) == [expected]


async def test_the_codes_of_resolvers_are_kept(gql: GraphQLClient) -> None:
    # given no credential
    # when an operation that needs one is asked
    body = await gql("{ tiers { id } }")
    # then the resolver's own code is answered, not replaced
    assert _codes(body) == ["UNAUTHENTICATED"]
