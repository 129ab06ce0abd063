"""`pointsLog`: the master's history of a member, fetched by a worker from a real HTTP
server on 127.0.0.1, cached for the tenant's TTL, with a code for every failure and the
last good copy beside it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from core import clock
from core.ssrf import BlockedAddress
from models.members.upserts import upsert_member
from models.pointmaster.modes import set_point_mode
from models.pointmaster.points_log import LogTarget, PointsLogErrorCode
from models.pointmaster.settings import save_settings
from models.tenancy.tables import PointMode
from tests.factories import make_member
from tests.pointmaster.conftest import fixture
from tests.pointmaster.live_engine import Engine, Tenant, open_tenant
from tests.webhooks.receiver import Answer, Receiver
from workers.points_log import fetch

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

CONTACT = "1dfe06cd-a1be-4423-8ed4-afd900d998aa"
SETTINGS = """mutation($input: PointMasterSettingsInput!) {
  setPointMasterSettings(input: $input) {
    settings { pointsLogUrl pointsLogAuthHeader pointsLogAuthValue pointsLogCacheSeconds }
    errors { field code message }
  }
}"""
LOG = """query($m: ID, $u: String) {
  pointsLog(memberId: $m, externalUserId: $u) {
    contactId entries { transactionDate amount description }
    fetchedAt fromCache stale error { code message }
  }
}"""
LOG_BODY = json.dumps(fixture("voyado_points_log_response.json"))


async def follower(engine: Engine, master: Receiver, **settings: Any) -> Tenant:
    tenant = await open_tenant(engine)
    await set_point_mode(tenant.id, PointMode.FOLLOWER_BALANCE, actor="test")
    saved = await engine.data(
        SETTINGS,
        tenant.admin,
        input={
            "pointsLogUrl": master.url + "/contacts/{contactId}/points",
            "pointsLogAuthHeader": "apikey",
            "pointsLogAuthValue": "secret-master-key-0042",
            **settings,
        },
    )
    assert saved["setPointMasterSettings"]["errors"] == []
    return tenant


async def points_log(engine: Engine, token: str, **variables: Any) -> dict[str, Any]:
    return (await engine.data(LOG, token, **variables))["pointsLog"]


def gets(master: Receiver) -> list[str]:
    return [r.path for r in master.received]


async def test_round_trip_and_cache_within_ttl(engine: Engine, master: Receiver) -> None:
    # given a follower whose master answers the fixture's log, and a member it knows
    tenant = await follower(engine, master, pointsLogCacheSeconds=60)
    await make_member(tenant.id)  # another member, never asked for
    member, _ = await upsert_member(tenant.id, CONTACT)
    master.default = Answer(body=LOG_BODY)

    # when an admin asks for the log, then asks again within the TTL
    first = await points_log(engine, tenant.admin, m=str(member.id))
    again = await points_log(engine, tenant.api_key, u=CONTACT)

    # then the master was asked once, for that contact, with the tenant's credentials
    assert gets(master) == [f"/contacts/{CONTACT}/points"]
    assert master.received[0].headers["apikey"] == "secret-master-key-0042"
    # and the entries are the master's, fresh, then served from the cache
    expected = [
        {
            "transactionDate": "2023-05-08T12:06:58+00:00",
            "amount": 1900,
            "description": "Purchase of tshirt",
        },
        {
            "transactionDate": "2023-05-08T12:02:55+00:00",
            "amount": 1500,
            "description": "Purchase of jeans",
        },
    ]
    assert first["entries"] == expected and again["entries"] == expected
    assert (first["contactId"], first["fromCache"], first["stale"], first["error"]) == (
        CONTACT,
        False,
        False,
        None,
    )
    assert (again["fromCache"], again["fetchedAt"]) == (True, first["fetchedAt"])

    # when the TTL has passed
    clock.advance(timedelta(seconds=61))
    later = await points_log(engine, tenant.admin, m=str(member.id))

    # then the master is asked again
    assert len(master.received) == 2 and later["fromCache"] is False


async def test_an_empty_log_is_an_empty_list(engine: Engine, master: Receiver) -> None:
    # given a master with no history for the contact
    tenant = await follower(engine, master)
    member = await make_member(tenant.id)
    master.default = Answer(body="[]")
    # when the log is read, then it is empty, not missing
    log = await points_log(engine, tenant.admin, m=str(member.id))
    assert (log["entries"], log["error"]) == ([], None)


@pytest.mark.parametrize(
    ("answer", "code", "attempts"),
    [
        (Answer(status=500, body='{"error": "boom"}'), "MASTER_ERROR", 3),
        (Answer(delay=2.4, body=LOG_BODY), "MASTER_TIMEOUT", 3),
        (Answer(body="<html>not json</html>"), "INVALID_RESPONSE", 1),
        (Answer(body='{"items": []}'), "INVALID_RESPONSE", 1),
        (Answer(body='[{"transactionDate": "yesterday", "amount": 5}]'), "INVALID_RESPONSE", 1),
    ],
    ids=["500", "timeout", "invalid-json", "not-a-list", "bad-entry"],
)
async def test_failures_have_a_code_and_no_copy(
    engine: Engine, master: Receiver, answer: Answer, code: str, attempts: int
) -> None:
    # given a master that fails in some way, and a log never fetched before; the timeout is
    # short only where the master is slow on purpose (8 times slower), else generous
    timeout_ms = 300 if answer.delay else 3000
    tenant = await follower(engine, master, pointsLogTimeoutMs=timeout_ms)
    member = await make_member(tenant.id)
    master.default = answer

    # when the log is read
    log = await points_log(engine, tenant.admin, m=str(member.id))

    # then the caller learns why, gets no entries, and failures worth retrying were retried
    assert log["error"]["code"] == code
    assert (log["entries"], log["stale"], log["fetchedAt"]) == (None, False, None)
    assert len(master.received) == attempts


async def test_master_down(engine: Engine, master: Receiver) -> None:
    # given a log URL on a port nobody listens on
    tenant = await follower(engine, master)
    await engine.data(
        SETTINGS, tenant.admin, input={"pointsLogUrl": "http://127.0.0.1:9/log/{contactId}"}
    )
    member = await make_member(tenant.id)
    # when the log is read, then the master is said to be unavailable
    log = await points_log(engine, tenant.admin, m=str(member.id))
    assert log["error"]["code"] == "MASTER_UNAVAILABLE" and log["entries"] is None


async def test_the_last_good_copy_comes_with_the_error(engine: Engine, master: Receiver) -> None:
    # given a log fetched once, and a master failing once the cache has expired
    tenant = await follower(engine, master, pointsLogCacheSeconds=10)
    member = await make_member(tenant.id)
    master.default = Answer(body=LOG_BODY)
    good = await points_log(engine, tenant.admin, m=str(member.id))
    clock.advance(timedelta(seconds=11))
    master.default = Answer(status=500)

    # when the log is read again, then again
    stale = await points_log(engine, tenant.admin, m=str(member.id))
    master.default = Answer(body="garbage")
    still = await points_log(engine, tenant.admin, m=str(member.id))

    # then each answer is the error with the last good copy, said to be stale, of its time
    assert stale["error"]["code"] == "MASTER_ERROR"
    assert still["error"]["code"] == "INVALID_RESPONSE"
    for answer in (stale, still):
        assert answer["stale"] is True
        assert answer["entries"] == good["entries"]
        assert answer["fetchedAt"] == good["fetchedAt"]


async def test_not_configured(engine: Engine) -> None:
    # given a tenant without a points-log URL
    tenant = await open_tenant(engine)
    member = await make_member(tenant.id)
    # when the log is read, then it says so
    log = await points_log(engine, tenant.admin, m=str(member.id))
    assert (log["error"]["code"], log["entries"]) == ("NOT_CONFIGURED", None)


async def test_members_read_their_own_log_only(engine: Engine, master: Receiver) -> None:
    # given two members of a follower, and another tenant
    tenant = await follower(engine, master)
    mine = await make_member(tenant.id)
    theirs = await make_member(tenant.id)
    other = await open_tenant(engine)
    master.default = Answer(body=LOG_BODY)
    token = await engine.member_token(tenant.api_key, mine.external_user_id)

    # when the member reads its own log, another member's, and another tenant reads one
    own = await points_log(engine, token)
    foreign = await engine.gql(LOG, token, m=str(theirs.id))
    by_name = await engine.gql(LOG, token, u=theirs.external_user_id)
    cross = await engine.gql(LOG, other.admin, m=str(mine.id))

    # then only its own log is served; the others are "not found", and never fetched
    assert len(own["entries"]) == 2
    for refused in (foreign, by_name, cross):
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert gets(master) == [f"/contacts/{mine.external_user_id}/points"]


async def test_settings_are_checked_and_secrets_masked(engine: Engine, master: Receiver) -> None:
    # given a tenant admin
    tenant = await follower(engine, master)

    # when the settings are read back, and a URL without {contactId} is given
    settings = (await engine.data(SETTINGS, tenant.admin, input={}))["setPointMasterSettings"]
    bad = await engine.data(SETTINGS, tenant.admin, input={"pointsLogUrl": "https://x.example/log"})

    # then the credential shows only its last characters, and the URL is refused
    assert settings["settings"]["pointsLogAuthValue"] == "****0042"
    assert "secret-master-key" not in json.dumps(settings)
    assert bad["setPointMasterSettings"]["errors"][0]["field"] == "pointsLogUrl"
    # and an API key may not change them
    forbidden = await engine.gql(SETTINGS, tenant.api_key, input={"pointsLogUrl": None})
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_private_addresses_are_refused_when_saved_and_when_fetched(db: str) -> None:
    # given a deployment that does not allow private targets, and a tenant
    tenant = await open_tenant_row()

    # when a loopback log URL is saved, and a fetch is aimed at one anyway
    with pytest.raises(BlockedAddress):
        await save_settings(
            tenant, "admin:test", allow_private=False, points_log_url="http://127.0.0.1/{contactId}"
        )
    fetched = await fetch(LogTarget("http://127.0.0.1:9/x", {}, 1.0), allow_private=False)

    # then both are refused before any connection
    assert fetched.error_code == PointsLogErrorCode.BLOCKED_ADDRESS


async def open_tenant_row() -> Any:
    from tests.factories import make_tenant

    return (await make_tenant()).tenant.id
