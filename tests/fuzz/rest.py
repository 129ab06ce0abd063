"""The REST endpoints against their OpenAPI document (engine/openapi.py), in CI.

    .venv/bin/python -m tests.fuzz.rest [--examples N] [--seed N] [--out DIR]

Starts a real `gamify serve` (tests/fuzz/engine.py: embedded SQLite and Redis, or with
DATABASE_URL a throwaway database on that PostgreSQL server), seeds its tenant (a redemption
for the callback, the tenant following a point master in both modes so that uploads reach
202, an upload of each kind for the status endpoints; its worker applies what is
uploaded), then runs schemathesis on the
document the engine serves at GET /api/openapi.json, with the tenant's API key. Every
operation gets the schema's examples, its coverage cases (boundaries, missing and wrong
fields) and --examples generated cases, valid and invalid. It fails on:

- not_a_server_error: any 5xx;
- status_code_conformance: a status code the document does not list for the operation;
- content_type_conformance, response_schema_conformance, response_headers_conformance:
  an answer that does not match its documented content type, body schema or headers;
- ignored_auth: an operation that needs the API key answering without it;
- unsupported_method, allow_header_conformance: a method a path does not take not
  answered 405 with `Allow` naming the documented ones;
- and, once the worker applied the uploads: a batch that FAILED, or a traceback in the
  engine's log.

schemathesis' output and its JUnit report are kept in --out; exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fuzz.engine import Engine, answers
from tests.fuzz.tenant import Tenant, seed_tenant

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_TIMEOUT = 240.0
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
)
SET_MODE = (
    "mutation($m: PointMode!, $d: ID) { setPointMode(mode: $m, pointDefinitionId: $d,"
    ' reason: "fuzz") { mode errors { code message } } }'
)
SAVE_DEFINITION = (
    'mutation { savePointDefinition(input: {name: "Fuzz coins"}) {'
    " pointDefinition { id externalId } errors { code message } } }"
)
DEFINITIONS = "query { pointDefinitions { id externalId } }"
BATCHES = (
    "query($s: [SyncBatchStatus!]) { syncBatches(status: $s, first: 20) {"
    " nodes { id status messages { message } } } }"
)
APPLY_TIMEOUT = 120.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.rest", description=__doc__)
    parser.add_argument("--examples", type=int, default=100, help="generated cases per operation")
    parser.add_argument("--seed", type=int, default=1, help="generation seed: reproducible")
    # One worker: hypothesis parses lambdas' source (ast.parse) in each worker thread, and
    # CPython 3.11 before 3.11.8 can fail two concurrent parses with "SystemError: AST
    # constructor recursion depth mismatch" (cpython gh-106905); CI hit it twice. On 2
    # cores a second worker saved under 10 s.
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fuzz-rest")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with Engine.started(args.out, ROOT, worker=True) as engine:
        tenant = seed_tenant(engine)
        ids = follow_a_point_master(engine.url, tenant)
        config = write_config(ids, args.out / "schemathesis.toml")
        print(f"engine {engine.url} ({engine.backend}) ready in {time.monotonic() - started:.0f} s")
        code = run_schemathesis(engine.url, tenant.tokens["apikey"], config, args)
        alive = answers(f"{engine.url}/health")
        problems = applied_uploads(engine.url, tenant.tokens["admin"]) if alive else []
    output = (args.out / "schemathesis.txt").read_text(errors="replace")
    print("\n".join(output.splitlines()[-60:]))
    if not alive:
        problems.append(f"the engine no longer answers /health: see {engine.log_path}")
    problems += engine_exceptions(engine.log_path)
    print("\n".join(problems))
    print(f"REST fuzz: schemathesis exit {code}, {time.monotonic() - started:.0f} s")
    return 0 if code == 0 and not problems else 1


def applied_uploads(url: str, admin: str) -> list[str]:
    """The worker applies the uploads schemathesis made: none may fail (an item it cannot
    apply is rejected in its batch's messages, never a reason to fail the whole batch)."""
    deadline = time.monotonic() + APPLY_TIMEOUT
    while True:
        left = _graphql(url, admin, BATCHES, s=["PENDING", "PROCESSING"])
        if not left["data"]["syncBatches"]["nodes"]:
            break
        if time.monotonic() > deadline:
            return [f"uploads still not applied after {APPLY_TIMEOUT:.0f} s"]
        time.sleep(0.5)
    failed = _graphql(url, admin, BATCHES, s=["FAILED"])["data"]["syncBatches"]["nodes"]
    return [f"upload {b['id']} FAILED: {b['messages']}" for b in failed]


def engine_exceptions(log_path: Path) -> list[str]:
    """Tracebacks in the engine's log (the API's and its worker's)."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return [f"in the engine's log ({log_path}): {line[:200]}"
            for line in text.splitlines() if line.startswith("Traceback")]  # fmt: skip


def _graphql(url: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    data = next(iter((answer.get("data") or {}).values()), None)
    if answer.get("errors") or (isinstance(data, dict) and data.get("errors")):
        raise SystemExit(f"seeding failed: {query[:60]}: {answer}")
    return answer


def follow_a_point_master(url: str, tenant: Tenant) -> dict[str, list[Any]]:
    """The tenant follows a master's transactions, with a second currency that follows
    the master's balances: both uploads are taken (202). Returns the ids the fuzzer is fed."""
    admin, key = tenant.tokens["admin"], tenant.tokens["apikey"]
    definitions = _graphql(url, admin, DEFINITIONS)["data"]["pointDefinitions"]
    seeded = next(d for d in definitions if d["id"] == tenant.ids["pointDefinitionId"])
    saved = _graphql(url, admin, SAVE_DEFINITION)["data"]["savePointDefinition"]
    second = saved["pointDefinition"]
    _graphql(url, admin, SET_MODE, m="FOLLOWER_TRANSACTIONS")
    _graphql(url, admin, SET_MODE, m="FOLLOWER_BALANCE", d=second["id"])
    batches = []
    for kind, definition, item in (
        ("balances", second, {"amount": 10}),
        ("transactions", seeded, {"amount": 5, "source": "Campaign", "transactionId": "t-1"}),
    ):
        body = [{"contactId": tenant.external_user_id, "definitionId": definition["externalId"],
                 "timeStamp": "2030-01-01T00:00:00Z", **item}]  # fmt: skip
        answer = httpx.post(
            f"{url}/api/v2/point-accounts/{kind}",
            json=body,
            headers={"apikey": key},
            timeout=30,
        )
        if answer.status_code != 202:
            raise SystemExit(f"seeding failed: {kind} upload: {answer.status_code} {answer.text}")
        batches.append(answer.json()["id"])
    return {
        "redemptions": [tenant.ids["redemptionId"]],
        "batches": batches,
        "contacts": [tenant.external_user_id],
        "definitions": [seeded["externalId"], second["externalId"]],
    }


def write_config(ids: dict[str, list[Any]], path: Path) -> Path:
    """Seeded values for the parameters of those names, half of the time: random UUIDs
    only ever reach NOT_FOUND, random definitionIds only 'not a point definition'."""
    lines = [
        f"[dictionaries.{name}]\nvalues = {json.dumps(values)}" for name, values in ids.items()
    ]
    lines.append("[parameters]")
    bindings = {
        "path.redemption_id": ("redemptions", 0.5),
        "path.batch_id": ("batches", 0.5),
        "body.[*].contactId": ("contacts", 0.5),
        # Most items name a currency, so the worker applies them (to new contacts, too).
        "body.[*].definitionId": ("definitions", 0.9),
    }
    for where, (dictionary, probability) in bindings.items():
        lines.append(f'"{where}" = {{ dictionary = "{dictionary}", probability = {probability} }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def run_schemathesis(url: str, key: str, config: Path, args: Any) -> int:
    command = [
        str(BIN / "schemathesis"), "--config-file", str(config), "run", f"{url}/api/openapi.json",
        "--checks", os.environ.get("FUZZ_CHECKS") or ",".join(CHECKS),
        # No worker runs (tests/fuzz/engine.py), so /ready answers 503 by design.
        "--exclude-path", "/ready",
        "--phases", "examples,coverage,fuzzing",
        "--mode", "all",
        "--max-examples", str(args.examples),
        "--workers", str(args.workers),
        "--seed", str(args.seed),
        "--header", f"Authorization: Bearer {key}",
        "--continue-on-failure",
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--request-timeout", "30",
        "--report", "junit,ndjson",
        "--report-junit-path", str(args.out / "junit.xml"),
        "--report-ndjson-path", str(args.out / "events.ndjson"),
        "--no-color",
    ]  # fmt: skip
    output = args.out / "schemathesis.txt"
    with open(output, "w") as sink:
        try:
            return subprocess.run(
                command,
                cwd=args.out,  # where schemathesis keeps its .schemathesis/ cache
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            ).returncode
        except subprocess.TimeoutExpired:
            sink.write(f"\nstopped after {RUN_TIMEOUT:.0f} s\n")
            return -1


if __name__ == "__main__":
    sys.exit(main())
