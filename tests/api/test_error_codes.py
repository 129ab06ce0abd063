"""Error codes come from one source: the domains' code enums. Every code a mutation can
raise is one its payload's GraphQL enum has (none silently becomes INVALID), and every
value of those enums is a domain code (none is a hand copy that could drift)."""

from __future__ import annotations

import importlib
import pkgutil
from enum import Enum
from typing import Any

import pytest

import core
import engine
import models
import resolvers
from core.errors import Code, DomainError, ErrorCode, InvalidInput, Refused
from models.catalog.eligibility import Ineligibility, refusal
from models.redemptions.codes import RedemptionCode
from schema.common import (
    CatalogError,
    RedemptionError,
    UnrepresentableCode,
    payload_codes,
    user_error,
)
from schema.root import Mutation
from tests.api.raised_codes import CallGraph


def _import_all() -> None:
    for package in (core, models, resolvers, engine):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _code_enums() -> list[type[Code]]:
    _import_all()
    found: list[type[Code]] = []
    pending = list(Code.__subclasses__())
    while pending:
        enum = pending.pop()
        found.append(enum)
        pending.extend(enum.__subclasses__())
    return found


def _mutations() -> list[tuple[str, Any, type | None]]:
    """Each mutation: its name, its resolver, and its payload's error type (None: none)."""
    found = []
    for field in Mutation.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        payload = field.type.__strawberry_definition__
        errors = next((f for f in payload.fields if f.python_name == "errors"), None)
        error_type = errors.type.of_type if errors is not None else None
        found.append((field.name, field.base_resolver.wrapped_func, error_type))
    return found


@pytest.fixture(scope="module")
def graph() -> CallGraph:
    return CallGraph()


def test_every_code_a_mutation_can_raise_is_in_its_payload_enum(graph: CallGraph) -> None:
    # given every mutation with typed errors, and what its resolver can reach
    unrepresentable = {}
    mutations = [(n, f, e) for n, f, e in _mutations() if e is not None]
    assert len(mutations) >= 30
    for name, resolver, error_type in mutations:
        codes = graph.codes((resolver.__module__, resolver.__qualname__))
        # when its codes are looked up in its payload's enum
        carried = {member.value for member in payload_codes(error_type)}
        missing = sorted(f"{type(code).__name__}.{code.name}" for code in codes - carried)
        if missing:
            unrepresentable[f"{name} ({error_type.__name__})"] = missing
    # then none is missing: add its enum (or the code) to the payload's error_codes(...)
    assert unrepresentable == {}


def test_the_analysis_sees_codes_passed_through_variables(graph: CallGraph) -> None:
    # given mutations whose codes are chosen at run time, not written at the raise
    resolvers = {name: resolver for name, resolver, _ in _mutations()}

    def codes(name: str) -> set[Code]:
        return graph.codes((resolvers[name].__module__, resolvers[name].__qualname__))

    # then redeeming can raise each reason a reward is refused for (`refusal(reason)`),
    # and moving a redemption each refusal of the state machine (`code = ... if ...`)
    assert set(Ineligibility) <= codes("redeem_reward")
    assert set(RedemptionCode) <= codes("complete_redemption")
    # and the defaults of the classes raised without a code
    assert {ErrorCode.NOT_FOUND, ErrorCode.INVALID} <= codes("update_reward")
    # and not what only other mutations reach
    assert not set(Ineligibility) & codes("upsert_member")


def test_payload_enums_hold_only_domain_codes() -> None:
    # given every code of every domain enum, by value
    domain: dict[str, set[str]] = {}
    for enum in _code_enums():
        for code in enum:
            # each code is sent as its name
            assert code.value == code.name, f"{enum.__name__}.{code.name}"
            domain.setdefault(code.value, set()).add(enum.__name__)
    # when every payload error enum is read
    payload_enums = {payload_codes(e) for _, _, e in _mutations() if e is not None}
    assert len(payload_enums) >= 7
    # then each of its values is a domain code (derived, not copied by hand)
    strays = {
        enum.__name__: sorted(m.value for m in enum if m.value not in domain)
        for enum in payload_enums
    }
    assert all(not stray for stray in strays.values()), strays


def test_a_code_its_payload_enum_lacks_fails_loudly() -> None:
    # given a redemption refusal that reaches the catalog's error type
    refused = Refused("The redemption reached a final status", code=RedemptionCode.ALREADY_FINAL)
    # when it is turned into a catalog error
    with pytest.raises(UnrepresentableCode, match=r"CatalogError.*RedemptionCode.ALREADY_FINAL"):
        user_error(CatalogError, refused)
    # then it is not shown as INVALID; where the enum has it, it keeps its value
    shown = user_error(RedemptionError, refused)
    assert isinstance(shown.code, Enum) and shown.code.value == "ALREADY_FINAL"


def test_a_code_is_an_enum_member_not_a_string() -> None:
    with pytest.raises(TypeError, match="code enum"):
        InvalidInput("Use at most 10 characters", code="TOO_LONG")  # type: ignore[arg-type]
    assert InvalidInput("x").code == "INVALID"  # the value on the wire is unchanged


def test_each_refusal_to_redeem_has_its_message() -> None:
    messages = {reason: refusal(reason).message for reason in Ineligibility}
    assert all(messages.values()) and len(set(messages.values())) == len(Ineligibility)
    assert all(refusal(reason).code is reason for reason in Ineligibility)
    assert isinstance(refusal(Ineligibility.COOLDOWN), DomainError)
