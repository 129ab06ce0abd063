"""What the fuzz run (tests/fuzz) found, each as a test: every error of a GraphQL answer
carries `extensions.code`, whatever the caller got wrong, over HTTP and over the WebSocket."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import resolvers.tenants
from core.settings import Settings
from tests.fuzz import verdict
from tests.graphql_client import GraphQLClient, TenantSession
from tests.live.client import SubscriptionClient
from tests.live.conftest import serving


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


SUBSCRIPTIONS_REFUSED = {
    "a field the type does not have": (
        "subscription { redemptionUpdates { nope } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "a variable of the wrong type": (
        "subscription($f: RedemptionUpdateFilter) { redemptionUpdates(filter: $f) { eventId } }",
        {"f": {"status": ["NOPE"]}},
        "BAD_USER_INPUT",
    ),
}


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    SUBSCRIPTIONS_REFUSED.values(),
    ids=SUBSCRIPTIONS_REFUSED.keys(),
)
async def test_a_subscription_the_schema_refuses_is_coded(
    settings: Settings,
    redis_url: str,
    tenant: TenantSession,
    document: str,
    variables: dict[str, Any],
    expected: str,
) -> None:
    # given an admin's WebSocket on a served engine
    live = dataclasses.replace(settings, redis_url=redis_url)
    async with (
        serving(live) as server,
        SubscriptionClient.connected(server.ws_url, f"Bearer {tenant.admin_token}") as client,
    ):
        # when it subscribes with a document or variables the schema refuses
        await client.subscribe("refused", document, variables)
        operation = await client.ended("refused")
        # then the refusal carries its code, and the connection stays open
        (errors,) = operation.errors
        assert [error["extensions"]["code"] for error in errors] == [expected], errors
        assert client.closed is None


async def test_a_subscription_that_does_not_parse_closes_the_socket_with_4400(
    settings: Settings, redis_url: str, tenant: TenantSession
) -> None:
    """It used to escape the operation (Strawberry's ParserCache raised it): the server
    logged an exception and completed the subscription as if it had ended normally."""
    # given an admin's WebSocket on a served engine
    live = dataclasses.replace(settings, redis_url=redis_url)
    async with (
        serving(live) as server,
        SubscriptionClient.connected(server.ws_url, f"Bearer {tenant.admin_token}") as client,
    ):
        # when it subscribes with a document cut short
        await client.subscribe("cut", "subscription { redemptionUpdates(")
        operation = await client.ended("cut")
        # then graphql-transport-ws's answer to a malformed subscribe: 4400 with the reason
        assert client.closed is not None, (operation.errors, operation.completed)
        assert client.closed.code == 4400
        assert client.closed.reason.startswith("Syntax Error: Expected Name, found <EOF>")
        assert not operation.completed


# ---------------------------------------------------------------- the fuzz run's verdict


async def test_the_fuzz_verdict_flags_a_masked_internal_error(
    gql: GraphQLClient, tenant: TenantSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CI fuzz run reads answers with tests/fuzz/verdict.py: held to what the engine
    really answers, so a change of the masked answer cannot make the run blind."""

    # given a genuine internal failure behind saveTier (the API offers no way to cause one)
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(resolvers.tenants, "save_tier", broken)
    # when an admin saves a tier, and sends a document the schema refuses
    failed = await gql.http.post(
        "/graphql",
        json={"query": 'mutation { saveTier(input: {name: "Gold", rank: 1}) { tier { id } } }'},
        headers={"Authorization": f"Bearer {tenant.admin_token}"},
    )
    refused = await gql.http.post(
        "/graphql",
        json={"query": "mutation { saveTier(input: {rank: 1}) { tier { id } } }"},
        headers={"Authorization": f"Bearer {tenant.admin_token}"},
    )
    # then the verdict fails the first and passes the coded refusal
    assert verdict.problems(failed.status_code, failed.content) == [verdict.MASKED]
    assert verdict.problems(refused.status_code, refused.content) == []
    assert verdict.codes(refused.content) == ["GRAPHQL_VALIDATION_FAILED"]


def test_the_fuzz_verdict_flags_server_errors_and_uncoded_errors() -> None:
    # given answers of the shapes the run must fail, and ones it must pass
    uncoded = json.dumps({"data": None, "errors": [{"message": 'Bad "x"'}]}).encode()
    coded = json.dumps({"errors": [{"message": "No", "extensions": {"code": "FORBIDDEN"}}]})
    # when they are judged / then
    assert verdict.problems(500, b"Internal Server Error") == ["HTTP 5xx: 500"]
    assert verdict.problems(200, b"[]") == [verdict.NOT_JSON]
    assert verdict.problems(200, uncoded) == [f'{verdict.UNCODED}: Bad "…"']
    assert verdict.problems(200, coded.encode()) == []
    assert verdict.problems(429, b"Too Many Requests") == []
