"""The bounded fuzz run of CI: schemathesis against a real engine, once per credential.

    .venv/bin/python -m tests.fuzz.run [--examples N] [--workers N] [--seed N]

Starts the engine (tests/fuzz/engine.py: `gamify serve --no-worker`, embedded SQLite and
Redis, or with DATABASE_URL a throwaway database on that PostgreSQL server), seeds its
tenant (tests/fuzz/tenant.py: an API key, a member with points and a member token, a
reward, a redemption), then runs schemathesis against /graphql for every operation, once
with no credential, a member token, the API key and the admin JWT (the admin last: its
mutations may archive and revoke what the others use), with the hooks of
tests/fuzz/hooks.py. It prints the operations and cases per credential and the failures
(tests/fuzz/verdict.py) grouped by cause, with an example each, and exits 1 on any failure.

The engine's log, the calls with problems (JSON lines) and schemathesis' output are kept
in --out (default artifacts/fuzz) for triage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.engine import Engine, answers
from tests.fuzz.tenant import fuzz_config, seed_tenant

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Per credential: a hung run fails the step instead of CI's whole budget.
RUN_TIMEOUT = 120.0
CREDENTIALS = ("none", "member", "apikey", "admin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--examples", type=int, default=15, help="cases per operation")
    # One worker: hypothesis parses lambdas' source (ast.parse) in each worker thread, and
    # CPython 3.11 before 3.11.8 can fail two concurrent parses with "SystemError: AST
    # constructor recursion depth mismatch" (cpython gh-106905); CI hit it twice. On 2
    # cores a second worker saved under 10 s.
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers")
    parser.add_argument(
        "--seed", type=int, default=1, help="generation seed (+1 per credential): reproducible"
    )
    parser.add_argument("--phases", default="fuzzing", help="schemathesis phases")
    parser.add_argument("--mode", default="all", help="positive, negative or all")
    parser.add_argument(
        "--credentials", default=",".join(CREDENTIALS), help="some of " + ",".join(CREDENTIALS)
    )
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fuzz")
    parser.add_argument(
        "--engine-src",
        type=Path,
        default=ROOT,
        help="run the engine of another checkout (e.g. `git archive` of an older commit)",
    )
    args = parser.parse_args(argv)
    credentials = [name for name in args.credentials.split(",") if name]
    if unknown := set(credentials) - set(CREDENTIALS):
        parser.error(f"unknown credentials: {', '.join(sorted(unknown))}")

    args.out = args.out.resolve()  # schemathesis runs in it, and is given paths in it
    args.out.mkdir(parents=True, exist_ok=True)
    for old in [*args.out.glob("*.jsonl"), *args.out.glob("*.schemathesis.txt")]:
        old.unlink()  # the records are appended to
    # `timeout` in CI ends a run with SIGTERM: leave through the `finally`s, which stop the
    # engine (and subprocess.run its schemathesis) instead of orphaning them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with Engine.started(args.out, args.engine_src.resolve()) as engine:
        tenant = seed_tenant(engine)
        config = fuzz_config(tenant, args.out / "schemathesis.toml")
        print(f"engine {engine.url} ({engine.backend}) ready in {time.monotonic() - started:.0f} s")
        results = [
            fuzz(engine.url, name, tenant.tokens.get(name), config, args, args.seed + index)
            for index, name in enumerate(credentials)
        ]
    report = summarise(results, time.monotonic() - started, engine.log_path)
    print(report)
    (args.out / "summary.txt").write_text(report + "\n")
    return 1 if any(r.failed for r in results) else 0


# ------------------------------------------------------------------ schemathesis


@dataclass
class Result:
    credential: str
    seconds: float
    exit_code: int
    calls: list[dict[str, Any]] = field(default_factory=list)
    output_tail: str = ""
    engine_answers: bool = True  # /health after the run: a crashed engine fails it

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["problems"]]

    @property
    def failed(self) -> bool:
        # schemathesis exits 1 on our check's failures (and on network errors, which a
        # dead engine would cause: /health tells); other codes, or none, when it could not run.
        return (
            bool(self.failures)
            or not self.engine_answers
            or self.exit_code not in (0, 1)
            or not self.calls
        )


def fuzz(
    url: str, credential: str, token: str | None, config: Path, args: Any, seed: int
) -> Result:
    out: Path = args.out
    record = out / f"{credential}.jsonl"
    command = [
        str(BIN / "schemathesis"), "--config-file", str(config), "run", f"{url}/graphql",
        "--checks", "coded_errors",
        "--max-examples", str(args.examples),
        "--workers", str(args.workers),
        "--phases", args.phases,
        "--mode", args.mode,
        "--seed", str(seed),
        "--no-shrink",
        "--continue-on-failure",
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--request-timeout", "30",
        "--no-color",
    ]  # fmt: skip
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="tests.fuzz.hooks",
        FUZZ_RECORD=str(record),
        PYTHONPATH=str(ROOT),
    )
    record.touch()
    started = time.monotonic()
    output = out / f"{credential}.schemathesis.txt"
    with open(output, "w") as sink:
        try:
            code = subprocess.run(
                command,
                env=env,
                cwd=out,  # where schemathesis keeps its .schemathesis/ cache
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
            sink.write(f"\nstopped after {RUN_TIMEOUT:.0f} s\n")
    result = Result(credential, time.monotonic() - started, code)
    result.calls = [json.loads(line) for line in record.read_text().splitlines() if line]
    result.output_tail = "\n".join(output.read_text().splitlines()[-15:])
    result.engine_answers = answers(f"{url}/health")
    print(
        f"  {credential:>7}: {len(result.calls)} cases, {len(result.failures)} failing,"
        f" {result.seconds:.0f} s",
        flush=True,
    )
    return result


# ------------------------------------------------------------------ the summary


def summarise(results: list[Result], seconds: float, log_path: Path) -> str:
    lines = ["", "==== fuzz summary ===="]
    causes: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, dict[str, Any]] = {}
    for result in results:
        operations = {call["operation"] for call in result.calls}
        answered = sum(1 for call in result.calls if call["status"] == 200 and not call["codes"])
        codes = Counter(code for call in result.calls for code in call["codes"])
        # A refused request (429 from a rate limit, 413, 400) is no failure, but many of them
        # mean the cases never reached the API: shown so a reader sees it.
        codes.update(f"HTTP {c['status']}" for c in result.calls if c["status"] != 200)
        lines.append(
            f"{result.credential:>7}: {len(operations)} operations, {len(result.calls)} cases,"
            f" {len(result.failures)} failing, {result.seconds:.0f} s"
            + (f" (schemathesis exit {result.exit_code})" if result.exit_code not in (0, 1) else "")
        )
        lines.append(
            f"         {answered} answered without error; error codes: "
            + ", ".join(f"{code} {n}" for code, n in codes.most_common(8))
        )
        if not result.engine_answers:
            lines.append("  the engine no longer answers /health: see its log")
        if result.exit_code not in (0, 1) or not result.calls:
            lines.append(f"  schemathesis did not run through:\n{result.output_tail}")
        for call in result.failures:
            for cause in call["problems"]:
                causes[cause][f"{result.credential} {call['operation']}"] += 1
                examples.setdefault(cause, call | {"credential": result.credential})
    total_failures = sum(len(r.failures) for r in results)
    lines.append(
        f"total: {sum(len(r.calls) for r in results)} cases, {total_failures} failing,"
        f" {seconds:.0f} s"
    )
    for cause, where in sorted(causes.items(), key=lambda item: -sum(item[1].values())):
        example = examples[cause]
        lines += [
            "",
            f"{sum(where.values())}x {cause}",
            "   in: " + ", ".join(f"{op} ({n})" for op, n in where.most_common(8)),
            f"   e.g. ({example['credential']}) {_printable(example['query'][:400])}",
            f"   answer: {_printable(example['answer'][:300])}",
        ]
    if exceptions := _engine_exceptions(log_path):
        lines += ["", f"exceptions in the engine's log ({log_path}):"]
        lines += [f"{n:>6}x {line}" for line, n in exceptions.most_common(15)]
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Control characters (a fuzzed NUL) escaped, so the summary stays text in a CI log."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def _engine_exceptions(log_path: Path) -> Counter[str]:
    """The last line of each traceback in the engine's log (`Module.Error: message`), cut
    short: a message can quote a fuzzed 70 KB string."""
    found: Counter[str] = Counter()
    if not log_path.exists():
        return found
    with open(log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if re.match(r"[A-Za-z_][\w.]*(Error|Exception)(: |$)", line):
                found[_printable(line.strip()[:160])] += 1
    return found


if __name__ == "__main__":
    sys.exit(main())
