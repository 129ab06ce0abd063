"""Point mode: switching is an admin action, recorded, and it gates the uploads."""

from __future__ import annotations

from typing import Any

import httpx

from models.tenancy.access import create_api_key
from models.tenancy.tables import Tenant
from tests.factories import PASSWORD, make_tenant
from tests.pointmaster.conftest import fixture

SET_MODE = """mutation($mode: PointMode!, $reason: String!) {
  setPointMode(mode: $mode, reason: $reason) {
    mode change { oldMode newMode actor reason createdAt } errors { code }
  }
}"""
CHANGES = "{ pointModeChanges { oldMode newMode actor reason } }"


async def _gql(http: httpx.AsyncClient, query: str, token: str, **variables: Any) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _admin_token(http: httpx.AsyncClient, email: str) -> str:
    body = await _gql(
        http,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        "",
        e=email,
        p=PASSWORD,
    )
    return str(body["data"]["login"]["token"])


async def test_switching_is_recorded_and_gates_uploads(http: httpx.AsyncClient) -> None:
    # given a tenant in the default MASTER mode, its admin and its API key
    new = await make_tenant()
    token = await _admin_token(http, new.admin.email)
    _, key = await create_api_key(new.tenant.id, "master")
    headers = {"Authorization": f"Bearer {key}"}
    body = fixture("voyado_balances_request.json")
    url = "/api/v2/point-accounts/balances"
    assert (await http.post(url, json=body, headers=headers)).status_code == 400

    # when the admin switches to FOLLOWER_BALANCE, twice
    first = await _gql(http, SET_MODE, token, mode="FOLLOWER_BALANCE", reason="Voyado owns it")
    again = await _gql(http, SET_MODE, token, mode="FOLLOWER_BALANCE", reason="again")

    # then the switch is recorded once, with who and why
    change = first["data"]["setPointMode"]["change"]
    assert first["data"]["setPointMode"]["mode"] == "FOLLOWER_BALANCE"
    assert (change["oldMode"], change["newMode"], change["reason"]) == (
        "MASTER",
        "FOLLOWER_BALANCE",
        "Voyado owns it",
    )
    assert change["actor"].startswith("admin")
    assert again["data"]["setPointMode"] == {
        "mode": "FOLLOWER_BALANCE",
        "change": None,
        "errors": [],
    }
    listed = await _gql(http, CHANGES, token)
    assert len(listed["data"]["pointModeChanges"]) == 1
    assert (await Tenant.get(id=new.tenant.id)).point_mode == "FOLLOWER_BALANCE"

    # and balances are accepted now, transactions are not
    assert (await http.post(url, json=body, headers=headers)).status_code == 202
    transactions = fixture("voyado_transactions_request.json")
    refused = await http.post(
        "/api/v2/point-accounts/transactions", json=transactions, headers=headers
    )
    assert refused.status_code == 400


async def test_only_an_admin_switches(http: httpx.AsyncClient) -> None:
    # given a tenant's API key
    new = await make_tenant()
    _, key = await create_api_key(new.tenant.id, "backend")

    # when it tries to switch the mode, or to read the changes
    body = await _gql(http, SET_MODE, key, mode="FOLLOWER_TRANSACTIONS", reason="")
    listed = await _gql(http, CHANGES, key)

    # then both are refused, and nothing changed
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await Tenant.get(id=new.tenant.id)).point_mode == "MASTER"
