"""Settings from the environment: the README's table, parsed as it says."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.settings import SettingError, load_settings
from engine.cli import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment: a data directory of the test's own, no key, no URLs."""
    for name in ("GAMIFY_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "GAMIFY_GRAPHIQL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GAMIFY_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_defaults_are_the_embedded_engine(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # when nothing is set
    settings = load_settings()
    # then the engine runs on its own SQLite file and Redis, with the IDE on
    assert settings.embedded_database and settings.embedded_redis
    assert settings.effective_database_url == f"sqlite://{tmp_path / 'data' / 'gamify.sqlite3'}"
    assert (settings.host, settings.port, settings.graphiql) == ("127.0.0.1", 8000, True)


def test_graphiql_is_off_by_default_with_a_database_url(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgres://u@db.example/prod")
    assert load_settings().graphiql is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("YES", True), (" on ", True), ("true", True), ("0", False), ("off", False),
     ("No", False), ("", True)],
)  # fmt: skip
def test_booleans_read_as_the_readme_says(
    env: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    # when GAMIFY_INTROSPECTION (default true) is given as people write it
    env.setenv("GAMIFY_INTROSPECTION", raw)
    # then
    assert load_settings().introspection is expected


def test_lists_and_numbers(env: pytest.MonkeyPatch) -> None:
    # when
    env.setenv("GAMIFY_ALLOWED_ORIGINS", " https://a.example, ,https://b.example ")
    env.setenv("GAMIFY_PORT", "9001")
    env.setenv("GAMIFY_WEBHOOK_TIMEOUT", "2.5")
    settings = load_settings()
    # then
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.port == 9001 and settings.webhook_timeout == 2.5


@pytest.mark.parametrize(
    ("name", "raw"),
    [("GAMIFY_PORT", "80a"), ("GAMIFY_DEBUG", "maybe"), ("GAMIFY_WEBHOOK_TIMEOUT", "soon")],
)
def test_a_malformed_setting_names_its_variable(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, raw: str
) -> None:
    # given a typo in one variable
    env.setenv(name, raw)
    # when the settings are read, and when a command starts
    with pytest.raises(SettingError, match=name):
        load_settings()
    code = main(["migrate"])
    # then the command says which variable in one line, without a traceback
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"gamify: {name} must be") and repr(raw) in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_secret_key_is_generated_once_and_kept_private(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # when the engine starts twice on one data directory without GAMIFY_SECRET_KEY
    first = load_settings().secret_key
    second = load_settings().secret_key
    # then it made one long key, kept it (tokens survive a restart), readable by its owner only
    key_file = tmp_path / "data" / "secret_key"
    assert first == second == key_file.read_text().strip() and len(first) >= 48
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # and a key given in the environment wins and is not written down
    env.setenv("GAMIFY_SECRET_KEY", "k" * 40)
    assert load_settings().secret_key == "k" * 40
    assert key_file.read_text().strip() == first
