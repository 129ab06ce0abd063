"""Settings from environment variables (documented in README.md).

Every setting has an embedded-default value so `gamify serve` works on a fresh clone.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url


class SettingError(ValueError):
    """A malformed environment variable; the message names it."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise SettingError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {raw!r}")
    return value in _TRUE


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingError(f"{name} must be a whole number, not {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number of seconds, not {raw!r}") from None


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None
    redis_url: str | None
    secret_key: str
    debug: bool
    graphiql: bool
    introspection: bool
    db_pool_size: int
    admin_token_ttl: int
    member_token_ttl: int
    max_query_depth: int
    max_query_tokens: int
    max_query_aliases: int
    allowed_origins: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_disable_after_hours: int = 120
    webhook_lease_seconds: int = 60
    max_subscriptions_per_connection: int = 20
    log_format: str = "text"
    metrics_token: str | None = None
    ready_heartbeat_seconds: int = 30
    worker_metrics_port: int = 0
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 4_194_304
    max_query_cost: int = 10_000
    rate_limit_window: int = 60
    rate_limit_per_address: int = 10_000
    rate_limit_per_credential: int = 10_000
    login_window: int = 900
    login_failures_per_account: int = 10
    login_failures_per_address: int = 100

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{self.data_dir / 'gamify.sqlite3'}"


def _secret_key(data_dir: Path) -> str:
    """The signing key: from the environment, else one generated once per data dir.

    Persisting it keeps tokens valid across restarts of the embedded engine.
    """
    env = os.environ.get("GAMIFY_SECRET_KEY")
    if env:
        return env
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def log_format() -> str:
    """GAMIFY_LOG_FORMAT: `text` (default) or `json`; read before the other settings, since
    logging is set up first."""
    value = (os.environ.get("GAMIFY_LOG_FORMAT") or "text").strip().lower()
    if value not in ("text", "json"):
        raise SettingError(f"GAMIFY_LOG_FORMAT must be text or json, not {value!r}")
    return value


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("GAMIFY_DATA_DIR", ".gamify")).resolve()
    debug = _bool("GAMIFY_DEBUG", False)
    return Settings(
        data_dir=data_dir,
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=_secret_key(data_dir),
        debug=debug,
        # The IDE is for trying the embedded engine out; a deployment with its own database
        # turns it on explicitly if it wants it.
        graphiql=_bool("GAMIFY_GRAPHIQL", not os.environ.get("DATABASE_URL")),
        introspection=_bool("GAMIFY_INTROSPECTION", True),
        db_pool_size=_int("GAMIFY_DB_POOL_SIZE", 20),
        admin_token_ttl=_int("GAMIFY_ADMIN_TOKEN_TTL", 3600),
        member_token_ttl=_int("GAMIFY_MEMBER_TOKEN_TTL", 3600),
        max_query_depth=_int("GAMIFY_MAX_QUERY_DEPTH", 10),
        max_query_tokens=_int("GAMIFY_MAX_QUERY_TOKENS", 2000),
        max_query_aliases=_int("GAMIFY_MAX_QUERY_ALIASES", 15),
        allowed_origins=_list("GAMIFY_ALLOWED_ORIGINS", []),
        host=os.environ.get("GAMIFY_HOST", "127.0.0.1"),
        port=_int("GAMIFY_PORT", 8000),
        webhook_allow_private=_bool("GAMIFY_WEBHOOK_ALLOW_PRIVATE", False),
        webhook_timeout=_float("GAMIFY_WEBHOOK_TIMEOUT", 10.0),
        webhook_disable_after_hours=_int("GAMIFY_WEBHOOK_DISABLE_AFTER_HOURS", 120),
        webhook_lease_seconds=_int("GAMIFY_WEBHOOK_LEASE_SECONDS", 60),
        max_subscriptions_per_connection=_int("GAMIFY_MAX_SUBSCRIPTIONS_PER_CONNECTION", 20),
        log_format=log_format(),
        metrics_token=os.environ.get("GAMIFY_METRICS_TOKEN") or None,
        ready_heartbeat_seconds=_int("GAMIFY_READY_HEARTBEAT_SECONDS", 30),
        worker_metrics_port=_int("GAMIFY_WORKER_METRICS_PORT", 0),
        max_body_bytes=_int("GAMIFY_MAX_BODY_BYTES", 1_048_576),
        max_upload_bytes=_int("GAMIFY_MAX_UPLOAD_BYTES", 4_194_304),
        max_query_cost=_int("GAMIFY_MAX_QUERY_COST", 10_000),
        rate_limit_window=_int("GAMIFY_RATE_LIMIT_WINDOW", 60),
        rate_limit_per_address=_int("GAMIFY_RATE_LIMIT_PER_ADDRESS", 10_000),
        rate_limit_per_credential=_int("GAMIFY_RATE_LIMIT_PER_CREDENTIAL", 10_000),
        login_window=_int("GAMIFY_LOGIN_WINDOW", 900),
        login_failures_per_account=_int("GAMIFY_LOGIN_FAILURES_PER_ACCOUNT", 10),
        login_failures_per_address=_int("GAMIFY_LOGIN_FAILURES_PER_ADDRESS", 100),
    )


MODEL_MODULES = [
    "models.tenancy.tables",
    "models.members.tables",
    "models.points.tables",
    "models.catalog.tables",
    "models.redemptions.tables",
    "models.db.idempotency",
    "models.webhooks.tables",
    "models.pointmaster.tables",
    "models.programme.tables",
    "models.tiers.tables",
]


class PooledConnection(asyncpg.Connection):
    """Skips asyncpg's reset statements (RESET ALL, UNLISTEN *, CLOSE ALL, advisory
    unlock) on every return to the pool: the engine keeps no session state on pooled
    connections, and the round trip cost a request up to four extra. An unfinished
    transaction is still rolled back by the pool."""

    def get_reset_query(self) -> str:
        return ""


def tortoise_config(database_url: str, pool_size: int = 20) -> dict[str, object]:
    """Tortoise config for one database URL; the migrations package is `migrations`."""
    credentials: dict[str, object]
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        url = database_url.replace("postgresql://", "postgres://", 1).replace(
            "asyncpg://", "postgres://", 1
        )
        sep = "&" if "?" in url else "?"
        expanded = expand_db_url(f"{url}{sep}minsize=1&maxsize={pool_size}")
        expanded["credentials"]["connection_class"] = PooledConnection
        connection: object = expanded
    else:
        connection = database_url
    credentials = {"default": connection}
    return {
        "connections": credentials,
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def tortoise_orm() -> dict[str, object]:
    """Entry for `tortoise -c core.settings.TORTOISE_ORM` style tooling."""
    settings = load_settings()
    return tortoise_config(settings.effective_database_url, settings.db_pool_size)
