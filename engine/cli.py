"""`gamify`: serve the engine, run a worker, migrate, create tenants and API keys, export the schema.

Without DATABASE_URL and REDIS_URL the commands use the embedded default: a SQLite file
and a redis-server of our own, both in GAMIFY_DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Coroutine, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from core.errors import DomainError, NotFound
from core.settings import SettingError, Settings, load_settings, log_format
from engine import cli_accounts, runtime
from engine.bootstrap import bootstrap_demo
from engine.cli_errors import explain
from engine.embedded import EmbeddedRedis
from engine.logging_setup import configure_logging
from engine.metrics import serve_worker_metrics, shared_metrics_dir
from models.tenancy.access import create_api_key, create_tenant
from models.tenancy.tables import Tenant

T = TypeVar("T")
logger = logging.getLogger("gamify")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        configure_logging(log_format(), verbose=args.command in (_serve, _worker))
        return args.command(args)
    except DomainError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"gamify: {exc.message}{field}", file=sys.stderr)
        return 1
    except SettingError as exc:
        print(f"gamify: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        print(f"gamify: {explained}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gamify", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gamify {version('gamify-engine')}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the engine: HTTP app and a worker")
    serve.add_argument("--no-worker", action="store_true", help="run no arq worker")
    serve.add_argument("--host", help="address to listen on (default GAMIFY_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default GAMIFY_PORT, 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="uvicorn worker processes (N > 1 needs DATABASE_URL)",
    )
    serve.set_defaults(command=_serve)

    worker = commands.add_parser("worker", help="run an arq worker")
    worker.set_defaults(command=_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(command=_migrate)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_tenant = tenant.add_parser("create", help="create a tenant and its first admin")
    create_tenant.add_argument("--name", required=True, help="the tenant's display name")
    create_tenant.add_argument(
        "--slug", required=True, help="3-100 lowercase letters, digits and dashes; unique"
    )
    create_tenant.add_argument("--admin-email", required=True, help="the first admin's login")
    create_tenant.add_argument("--admin-password", help="generated and printed when omitted")
    create_tenant.set_defaults(command=_create_tenant)

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_key = apikey.add_parser("create", help="create an API key (printed once)")
    create_key.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
    create_key.add_argument("--name", required=True, help="what the key is for (e.g. 'shop')")
    create_key.set_defaults(command=_create_api_key)

    shop = commands.add_parser(
        "demo-shop",
        help="serve a pretend shop that embeds the rewards widget (for the demo tenant)",
    )
    shop.add_argument("--port", type=int, default=8001, help="the shop's port (default 8001)")
    shop.add_argument(
        "--engine-url",
        metavar="URL",
        help="where the engine answers (default http://GAMIFY_HOST:GAMIFY_PORT)",
    )
    shop.set_defaults(command=_demo_shop)

    cli_accounts.add_commands(commands, tenant, apikey, _run)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead")
    export.set_defaults(command=_export_schema)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings = dataclasses.replace(
        settings, host=args.host or settings.host, port=args.port or settings.port
    )
    _log_jobs(settings)
    if args.workers > 1 and settings.embedded_database:
        print(
            "gamify: --workers N > 1 needs DATABASE_URL (SQLite serves one process)",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        settings = _with_redis(settings, stack)
        if args.workers > 1:
            return _serve_processes(settings, args.workers, with_worker=not args.no_worker)
        _run(_prepare(settings))
        return _run(runtime.serve(settings, with_worker=not args.no_worker))


def _serve_processes(settings: Settings, workers: int, *, with_worker: bool) -> int:
    """Several uvicorn processes (a PostgreSQL deployment) and one worker process."""
    import uvicorn

    _run(_prepare(settings))
    # The worker processes build their settings from the environment.
    os.environ["REDIS_URL"] = str(settings.redis_url)
    # Counters of every process, the worker's included, add up at any process's /metrics.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(shared_metrics_dir(settings.data_dir)))
    worker = (
        subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"]) if with_worker else None
    )
    try:
        uvicorn.run(
            "engine.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            access_log=settings.debug,
            log_config=None,  # each process sets up its own (engine.app.app_from_env)
            ws="engine.websocket:FrameWritingProtocol",  # see engine.live_groups
        )
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=runtime.JOB_GRACE_SECONDS + 5)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return 0


async def _prepare(settings: Settings) -> None:
    """Migrate, and on the embedded database create the demo tenant on first start."""
    for name in await runtime.apply_migrations(settings):
        logger.info("Applied migration %s", name)
    if not settings.embedded_database:
        return
    async with runtime.database(settings):
        credentials = await bootstrap_demo()
    if credentials is not None:
        print(credentials.announcement(), flush=True)


def _worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    _log_jobs(settings)
    with contextlib.ExitStack() as stack:
        settings = _with_redis(settings, stack)
        serve_worker_metrics(settings)
        _run(runtime.run_worker(settings))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = _ensure_data_dir(load_settings())
    applied = _run(runtime.apply_migrations(settings))
    for name in applied:
        print(f"Applied {name}")
    if not applied:
        print("No migrations to apply")
    return 0


def _create_tenant(args: argparse.Namespace) -> int:
    password = args.admin_password or secrets.token_urlsafe(18)

    async def create() -> None:
        async with runtime.database(_ensure_data_dir(load_settings())):
            new = await create_tenant(args.name, args.slug, args.admin_email, password)
        print(f"Created tenant {new.tenant.slug} ({new.tenant.id})")
        print(f"Admin login: {new.admin.email}")
        if not args.admin_password:
            print(f"Admin password (shown once): {password}")

    _run(create())
    return 0


def _create_api_key(args: argparse.Namespace) -> int:
    async def create() -> None:
        async with runtime.database(_ensure_data_dir(load_settings())):
            tenant = await Tenant.get_or_none(slug=args.tenant)
            if tenant is None:
                raise NotFound(f"No tenant with slug {args.tenant!r}", field="tenant")
            key, plaintext = await create_api_key(tenant.id, args.name)
        print(f"Created API key {key.name!r} ({key.prefix}...) for tenant {tenant.slug}")
        print(f"API key (shown once): {plaintext}")

    _run(create())
    return 0


def _demo_shop(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.demo_shop import ShopConfig, open_demo_shop, shop_app

    settings = _ensure_data_dir(load_settings())
    engine_url = (args.engine_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    origins = [f"http://127.0.0.1:{args.port}", f"http://localhost:{args.port}"]

    async def open_shop() -> str:
        async with runtime.command(settings):
            return await open_demo_shop(origins)

    try:
        api_key = _run(open_shop())
    except LookupError as exc:
        print(f"gamify: {exc}", file=sys.stderr)
        return 1
    print(f"Demo shop: http://127.0.0.1:{args.port} (widget from {engine_url})", flush=True)
    uvicorn.run(
        shop_app(ShopConfig(engine_url, api_key)),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from strawberry.printer import print_schema

    from schema.root import schema

    sdl = print_schema(schema) + "\n"
    if args.output is None:
        sys.stdout.write(sdl)
    else:
        args.output.write_text(sdl)
    return 0


def _with_redis(settings: Settings, stack: contextlib.ExitStack) -> Settings:
    """Settings whose `redis_url` is set: REDIS_URL, else an embedded Redis started here."""
    settings = _ensure_data_dir(settings)
    if settings.redis_url is not None:
        return settings
    embedded = stack.enter_context(EmbeddedRedis(settings.data_dir))
    logger.info("Embedded Redis at %s", embedded.url)
    return dataclasses.replace(settings, redis_url=embedded.url)


def _ensure_data_dir(settings: Settings) -> Settings:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop, as uvicorn does, when it is installed."""
    try:
        from uvloop import new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coroutine)


def _log_jobs(settings: Settings) -> None:
    """arq logs two lines per job, and the webhook relay runs every 10 s: debug only."""
    if not settings.debug:
        logging.getLogger("arq.worker").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
