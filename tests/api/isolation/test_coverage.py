"""The probe tables stay in step with schema.graphql: every root field is probed."""

from __future__ import annotations

import graphql

from schema.root import schema
from tests.api.isolation import (
    test_catalog,
    test_members,
    test_pointmaster,
    test_programme,
    test_redemptions,
    test_tenancy,
    test_tiers_reports,
    test_webhooks,
)

TABLES = [
    test_catalog,
    test_members,
    test_pointmaster,
    test_programme,
    test_redemptions,
    test_tiers_reports,
    test_tenancy,
    test_webhooks,
]


def _root_fields() -> set[str]:
    parsed = graphql.build_schema(str(schema))
    assert parsed.query_type is not None and parsed.mutation_type is not None
    return set(parsed.query_type.fields) | set(parsed.mutation_type.fields)


def test_every_query_and_mutation_is_probed() -> None:
    # given the fields the API serves
    served = _root_fields()
    # when compared with the fields the isolation tables probe
    probed = {probe.field for table in TABLES for probe in table.PROBES}
    # then every field is probed, and the tables name no field that is gone
    assert served - probed == set(), f"add isolation probes for {sorted(served - probed)}"
    assert probed - served == set(), f"stale isolation probes {sorted(probed - served)}"
