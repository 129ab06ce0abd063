"""The fuzzed tenant's data, seeded over GraphQL: a credential of each kind and the ids the
fuzzer is fed, so that its cases reach more than NOT_FOUND."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.fuzz.engine import ADMIN_EMAIL, Engine


def _call(url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    )
    body: dict[str, Any] = answer.json()
    if body.get("errors"):
        raise SystemExit(f"seeding failed: {query.split('(')[0]}: {body['errors']}")
    data: dict[str, Any] = next(iter(body["data"].values()))
    if data.get("errors"):
        raise SystemExit(f"seeding failed: {query.split('(')[0]}: {data['errors']}")
    return data


LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }"
CREATE_KEY = 'mutation { createApiKey(name: "fuzz") { key apiKey { id } errors { code } } }'
SAVE_TIER = 'mutation { saveTier(input: {name: "Gold", rank: 1}) { tier { id } errors { code } } }'
UPSERT_MEMBER = (
    'mutation($t: ID) { upsertMember(input: {externalUserId: "fuzz-1", email: "m@fuzz.test",'
    ' name: "Fuzz Member", tierId: $t}) { member { id } errors { code } } }'
)
AWARD = (
    'mutation { awardPoints(input: {externalUserId: "fuzz-1", amount: 5000, source: PURCHASE,'
    ' description: "seed"}) { entry { id } account { pointDefinition { id } } errors { code } } }'
)
MEMBER_TOKEN = 'mutation { createMemberToken(externalUserId: "fuzz-1") { token errors { code } } }'
CREATE_REWARD = (
    'mutation { createReward(input: {name: "Mug", type: GIFT, value: "1 mug", pointCost: 10,'
    " enabled: true}) { reward { id } errors { code } } }"
)
REDEEM = "mutation($r: ID!) { redeemReward(rewardId: $r) { redemption { id } errors { code } } }"


@dataclass
class Tenant:
    """The credentials of each kind, and the ids of the data seeded for them to find."""

    tokens: dict[str, str]
    ids: dict[str, str]
    external_user_id: str = "fuzz-1"


def seed_tenant(engine: Engine) -> Tenant:
    url = engine.url
    admin = _call(url, None, LOGIN, e=ADMIN_EMAIL, p=engine.admin_password)["token"]
    created = _call(url, admin, CREATE_KEY)
    key = created["key"]
    tier = _call(url, admin, SAVE_TIER)["tier"]["id"]
    member = _call(url, key, UPSERT_MEMBER, t=tier)["member"]["id"]
    award = _call(url, key, AWARD)
    member_token = _call(url, key, MEMBER_TOKEN)["token"]
    reward = _call(url, admin, CREATE_REWARD)["reward"]["id"]
    redemption = _call(url, member_token, REDEEM, r=reward)["redemption"]["id"]
    return Tenant(
        tokens={"admin": admin, "apikey": key, "member": member_token},
        ids={
            "apiKeyId": created["apiKey"]["id"],
            "tierId": tier,
            "memberId": member,
            "ledgerEntryId": award["entry"]["id"],
            "pointDefinitionId": award["account"]["pointDefinition"]["id"],
            "rewardId": reward,
            "redemptionId": redemption,
        },
    )


def fuzz_config(tenant: Tenant, path: Path) -> Path:
    """A schemathesis config that feeds the seeded ids and the member's external id to the
    arguments of those names (`id` takes any of them), half of the time: most generated
    ids are otherwise random strings, which only ever reach NOT_FOUND."""
    ids = list(tenant.ids.values())
    lines = [
        f"[dictionaries.ids]\nvalues = {json.dumps(ids)}",
        f"[dictionaries.external]\nvalues = {json.dumps([tenant.external_user_id])}",
        "[parameters]",
    ]
    bindings = {name: "ids" for name in (*tenant.ids, "id", "endpointId")}
    bindings["externalUserId"] = "external"
    bindings["contactId"] = "external"
    for name, dictionary in bindings.items():
        for where in (f"*.*.{name}", f"*.*.input.{name}", f"*.*.filter.{name}"):
            lines.append(f'"{where}" = {{ dictionary = "{dictionary}", probability = 0.5 }}')
    path.write_text("\n".join(lines) + "\n")
    return path
