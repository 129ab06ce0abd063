"""The `gamify` commands the README lists, run as a user runs them (child processes on a
data directory of their own, the embedded SQLite)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

GAMIFY = Path(sys.executable).with_name("gamify")
API_KEY = re.compile(r"API key \(shown once\): (gk_[A-Za-z0-9_-]{20,})")
PASSWORD = re.compile(r"Admin password \(shown once\): (\S+)")
TIMEOUT = 60


def gamify(data_dir: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "GAMIFY_SECRET_KEY")
    }
    env.update(environment, GAMIFY_DATA_DIR=str(data_dir))
    return subprocess.run(
        [str(GAMIFY), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def test_migrate_applies_each_migration_once(tmp_path: Path) -> None:
    # when a fresh data directory is migrated twice
    first = gamify(tmp_path, "migrate")
    second = gamify(tmp_path, "migrate")
    # then the first run applies every migration in order, the second none
    applied = re.findall(r"Applied (\S+)", first.stdout)
    migrations = sorted(p.stem for p in (Path(__file__).parents[2] / "migrations").glob("0*.py"))
    assert first.returncode == 0, first.stderr
    assert [name.split(".")[-1] for name in applied] == migrations
    assert second.returncode == 0 and second.stdout.strip() == "No migrations to apply"


def test_tenant_and_api_key_created_from_the_command_line(tmp_path: Path) -> None:
    # given a migrated database
    assert gamify(tmp_path, "migrate").returncode == 0
    # when an operator creates a tenant without a password, then an API key for it
    tenant = gamify(
        tmp_path, "tenant", "create", "--name", "Acme", "--slug", "acme",
        "--admin-email", "Ops@Acme.test",
    )  # fmt: skip
    key = gamify(tmp_path, "apikey", "create", "--tenant", "acme", "--name", "backend")
    again = gamify(
        tmp_path, "tenant", "create", "--name", "Acme", "--slug", "acme",
        "--admin-email", "other@acme.test",
    )  # fmt: skip
    unknown = gamify(tmp_path, "apikey", "create", "--tenant", "nope", "--name", "x")
    # then the password and the key are printed once, in a form that can be used
    assert tenant.returncode == 0, tenant.stderr
    assert "Admin login: ops@acme.test" in tenant.stdout
    password = PASSWORD.search(tenant.stdout)
    assert password and len(password.group(1)) >= 20
    assert key.returncode == 0, key.stderr
    assert API_KEY.search(key.stdout)
    # and mistakes are one line, without a traceback
    assert again.returncode == 1 and again.stderr.startswith("gamify: A tenant with this slug")
    assert unknown.returncode == 1 and unknown.stderr.strip() == (
        "gamify: No tenant with slug 'nope' (tenant)"
    )
    for failed in (again, unknown):
        assert "Traceback" not in failed.stderr


def test_version(tmp_path: Path) -> None:
    shown = gamify(tmp_path, "--version")
    assert shown.returncode == 0 and re.fullmatch(r"gamify \d+\.\d+\.\d+\n", shown.stdout)


def test_an_operator_lists_tenants_and_keys_revokes_a_key_and_resets_a_password(
    tmp_path: Path,
) -> None:
    # given a tenant with two keys
    assert gamify(tmp_path, "migrate").returncode == 0
    gamify(tmp_path, "tenant", "create", "--name", "Acme", "--slug", "acme",
           "--admin-email", "ops@acme.test", "--admin-password", "first-password-1")  # fmt: skip
    first = API_KEY.search(
        gamify(tmp_path, "apikey", "create", "--tenant", "acme", "--name", "shop").stdout
    )
    gamify(tmp_path, "apikey", "create", "--tenant", "acme", "--name", "warehouse")
    assert first
    prefix = first.group(1)[:9]
    # when the operator lists, revokes the first key by its prefix, and resets the password
    tenants = gamify(tmp_path, "tenant", "list")
    revoked = gamify(tmp_path, "apikey", "revoke", "--tenant", "acme", "--prefix", prefix + "...")
    keys = gamify(tmp_path, "apikey", "list", "--tenant", "acme")
    reset = gamify(tmp_path, "admin", "reset-password", "--email", "OPS@acme.test")
    unknown = gamify(tmp_path, "admin", "reset-password", "--email", "nobody@acme.test")
    # then each says what it did, the key is listed revoked and the other one active
    assert re.match(r"acme\tAcme\tMASTER\t[0-9a-f-]{36}\n$", tenants.stdout), tenants.stdout
    assert revoked.returncode == 0 and revoked.stdout.startswith(f"Revoked {prefix}... (shop)")
    listed = dict(line.split("\t")[1::2] for line in keys.stdout.splitlines())
    assert listed["shop"].startswith("revoked ") and listed["warehouse"] == "active"
    assert unknown.returncode == 1 and "No admin with email" in unknown.stderr
    # and the printed password is the one stored (argon2, as login checks it)
    password = re.search(r"New password \(shown once\): (\S+)", reset.stdout)
    assert reset.returncode == 0 and password
    with sqlite3.connect(tmp_path / "gamify.sqlite3") as db:
        (stored,) = db.execute("SELECT password_hash FROM tenant_admin").fetchone()
    assert PasswordHasher().verify(stored, password.group(1))


@pytest.mark.parametrize(
    ("environment", "command", "said"),
    [
        ({}, ["tenant", "list"], "the embedded database is not migrated: run gamify migrate"),
        ({"DATABASE_URL": "mysql://u@db.example/x"}, ["tenant", "list"], "DATABASE_URL is not a database"),
        ({"DATABASE_URL": "postgres://u@127.0.0.1:1/x"}, ["migrate"], "cannot reach DATABASE_URL"),
    ],
    ids=["unmigrated", "unsupported-url", "unreachable"],
)  # fmt: skip
def test_a_database_that_cannot_be_used_is_one_line(
    tmp_path: Path, environment: dict[str, str], command: list[str], said: str
) -> None:
    # when a command meets a database it cannot use
    done = gamify(tmp_path, *command, **environment)
    # then it says why in one line, naming what to fix, with no traceback
    assert done.returncode == 1
    assert done.stderr.startswith(f"gamify: {said}") and done.stderr.count("\n") == 1, done.stderr
