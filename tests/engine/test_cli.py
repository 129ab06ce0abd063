"""The `gamify` commands the README lists, run as a user runs them (child processes on a
data directory of their own, the embedded SQLite)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

GAMIFY = Path(sys.executable).with_name("gamify")
API_KEY = re.compile(r"API key \(shown once\): (gk_[A-Za-z0-9_-]{20,})")
PASSWORD = re.compile(r"Admin password \(shown once\): (\S+)")
TIMEOUT = 60


def gamify(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "GAMIFY_SECRET_KEY")
    }
    env["GAMIFY_DATA_DIR"] = str(data_dir)
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
