"""What a command tells an operator, in one line, when the database or Redis it was given
cannot be used: the causes an operator can fix, without a traceback."""

from __future__ import annotations

import os
import re

from redis.exceptions import ConnectionError as RedisConnectionError
from tortoise.exceptions import ConfigurationError, DBConnectionError, OperationalError

_MISSING_TABLE = re.compile(r'no such table|relation "[^"]+" does not exist')


def explain(exc: BaseException) -> str | None:
    """The one line for `exc`, or None when it is not one of these (a bug: let it show)."""
    database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "the embedded database"
    if isinstance(exc, ModuleNotFoundError | ConfigurationError) and _is_url_problem(exc):
        return f"DATABASE_URL is not a database this engine can use: {exc} (use postgres:// or sqlite://)"
    if isinstance(exc, OperationalError) and _MISSING_TABLE.search(str(exc)):
        return f"{database} is not migrated: run gamify migrate first"
    if isinstance(exc, DBConnectionError | ConnectionRefusedError | TimeoutError):
        return f"cannot reach {database}: {exc}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot reach {database}: {exc}"
    if isinstance(exc, RedisConnectionError):
        return f"cannot reach Redis ({'REDIS_URL' if os.environ.get('REDIS_URL') else 'embedded'}): {exc}"
    return None


def _is_url_problem(exc: BaseException) -> bool:
    # Tortoise imports a driver named by the URL's scheme (mysql:// -> aiomysql).
    return isinstance(exc, ConfigurationError) or getattr(exc, "name", "") in (
        "aiomysql",
        "asyncmy",
        "asyncodbc",
        "oracledb",
        "psycopg",
    )
