"""The committed schema.graphql is what the code serves (CI fails when it is stale)."""

from pathlib import Path

from strawberry.printer import print_schema

from schema.root import schema


def test_committed_schema_is_current() -> None:
    # given the schema file clients generate code from
    committed = (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()
    # when the code's schema is printed
    current = print_schema(schema) + "\n"
    # then they are the same; run `make schema` after changing the API
    assert committed == current, "schema.graphql is stale: run `make schema`"
