"""The ``scopix-server`` command: serve, worker, reindex, keys create|list|revoke."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._version import __version__
from .auth.keys import key_prefix
from .settings import Settings

__all__ = ["main"]

T = TypeVar("T")


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from .db.migrate import upgrade
    from .db.session import create_engine, create_sessionmaker

    async def run() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.resolved_database_url)
        try:
            await upgrade(engine)
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data folder (default: $SCOPIX_SERVER_DATA_DIR or ./scopix-data).",
)


@click.group()
@click.version_option(__version__, prog_name="scopix-server")
def main() -> None:
    """Self-hosted Scopix API server."""


@main.command()
@data_dir_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--log-level", default=None, help="debug, info, warning or error.")
@click.option(
    "--no-workers",
    is_flag=True,
    help="Serve the API only: the jobs are left to `scopix-server worker` processes (or other "
    "servers). Same as SCOPIX_SERVER_WORKERS=0.",
)
def serve(
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    log_level: str | None,
    no_workers: bool,
) -> None:
    """Start the API (creates the database and storage on first start)."""
    import uvicorn

    from .app import create_app
    from .guards import header_deadline_protocol

    settings = _settings(
        data_dir, host=host, port=port, log_level=log_level, workers=0 if no_workers else None
    )
    _preflight(settings)
    root = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"scopix-server {__version__}: {root}/api/v2 (data in {settings.data_dir.resolve()})"
    )
    if settings.console:
        click.echo(f"web console: {root}/ (sign in with an API key: scopix-server keys create)")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
        http=header_deadline_protocol(settings.header_timeout_seconds),
        # (longer than clients keep idle connections (httpx 5 s, aiohttp 15 s): a connection the
        # server closed as idle just as a client reuses it breaks that request)
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


KEEP_ALIVE_SECONDS = 30


def _preflight(settings: Settings) -> None:
    """Migrate the database and load the embedder before serving, so that a missing extension
    or model stops the start with its own sentence rather than a traceback."""
    from .providers.embedding import build_embedder

    async def check(_session: Any) -> None:
        embedder = build_embedder(settings)
        if embedder is not None:
            await embedder.start()
            await embedder.aclose()

    try:
        _with_session(settings, check)
    except RuntimeError as error:  # (ModelUnavailable, and the migrations' own refusals)
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


@main.command()
@data_dir_option
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs at a time (default: SCOPIX_SERVER_WORKERS, else the CPU count).",
)
@click.option(
    "--queues",
    default=None,
    help="Comma-separated queues to take jobs from: files, descriptions, embeddings "
    "(default: all).",
)
@click.option("--log-level", default=None, help="debug, info, warning or error.")
@click.option("--supervised", is_flag=True, hidden=True)  # (started by `serve`: settings on stdin)
def worker(
    data_dir: Path | None,
    concurrency: int | None,
    queues: str | None,
    log_level: str | None,
    supervised: bool,
) -> None:
    """Run jobs (no API); start as many as the work needs (beside `serve --no-workers`)."""
    import logging

    # One thread of numerical work per job: the jobs at a time are the parallelism. Several
    # workers each spinning a BLAS thread per core halved the throughput of two on 2 cores.
    # (Before numpy loads; a value set by the user stands.)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    from .jobs.procrastinate_queue import QUEUES
    from .jobs.standalone import read_supervised_settings, run_worker

    if supervised:
        settings = read_supervised_settings()
    else:
        settings = _settings(data_dir, log_level=log_level)
    chosen = None
    if queues:
        if settings.resolved_job_queue != "procrastinate":
            raise click.UsageError(
                "--queues chooses among Procrastinate's queues (a PostgreSQL deployment); the "
                "embedded queue of a SQLite server has one queue"
            )
        chosen = [name.strip() for name in queues.split(",") if name.strip()]
        unknown = sorted(set(chosen) - set(QUEUES.values()))
        if unknown or not chosen:
            raise click.UsageError(
                f"--queues takes {', '.join(sorted(set(QUEUES.values())))}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
    if not supervised:
        _preflight(settings)  # (`serve` checked before starting it)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    workers = concurrency or settings.resolved_workers or 1
    status = asyncio.run(
        run_worker(settings, concurrency=workers, queues=chosen, supervised=supervised)
    )
    sys.exit(status)


@main.command()
@data_dir_option
@click.option("--failed", is_flag=True, help="Also the files whose indexing failed before.")
def reindex(data_dir: Path | None, failed: bool) -> None:
    """Index for search the files not yet indexed by the configured embedder (resumable)."""
    settings = _settings(data_dir)
    if settings.embedder == "none":
        raise click.UsageError("no embedder is configured (SCOPIX_SERVER_EMBEDDER=none)")
    _preflight(settings)
    try:
        done, failures = asyncio.run(_reindex(settings, failed=failed))
    except KeyboardInterrupt:
        click.echo("stopped; run it again to go on where it stopped", err=True)
        sys.exit(130)
    click.echo(f"indexed {done} files" + (f", {failures} failed" if failures else ""))
    if failures:
        sys.exit(1)


async def _reindex(settings: Settings, *, failed: bool) -> tuple[int, int]:
    from .db.migrate import upgrade
    from .db.session import create_engine, create_sessionmaker
    from .jobs.embedding import EmbedStep
    from .processing import StepError
    from .providers.embedding import build_embedder
    from .services.reindex import count_stale, stale_files
    from .storage import open_storage

    embedder = build_embedder(settings)
    assert embedder is not None
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        await embedder.start()
        sessions = create_sessionmaker(engine)
        step = EmbedStep(
            sessions=sessions,
            storage=open_storage(settings.resolved_storage_url, settings),
            embedder=embedder,
        )
        async with sessions() as session:
            total = await count_stale(session, embedder.model, failed=failed)
        click.echo(f"{total} files to index with {embedder.model}", err=True)
        done = failures = 0
        with click.progressbar(length=total, label="indexing", file=sys.stderr) as bar:
            async for file_id in stale_files(sessions, embedder.model, failed=failed):
                try:
                    await step.run(file_id)
                    done += 1
                except StepError as error:
                    failures += 1
                    await step.failed(file_id, str(error))
                bar.update(1)
        return done, failures
    finally:
        await embedder.aclose()
        await engine.dispose()


@main.command("migrate-to")
@data_dir_option
@click.option(
    "--database-url",
    required=True,
    help="The target database, empty (e.g. postgresql+asyncpg://user:pass@host/scopix).",
)
@click.option(
    "--storage-url",
    required=True,
    help="The target storage (e.g. s3://bucket/prefix; its SCOPIX_SERVER_S3_* settings from "
    "the environment).",
)
def migrate_to(data_dir: Path | None, database_url: str, storage_url: str) -> None:
    """Copy this installation (database and stored objects) to another database and storage.

    The source (this data folder's settings) is only read: stop its server first. Objects go
    first (a second run skips those already copied), then every row in one transaction; the
    files still processing are queued again on the target. Then start the servers with the
    target's settings and the same SCOPIX_SERVER_SIGNING_SECRET.
    """
    from .services.transfer import TargetNotEmpty
    from .services.transfer import migrate_to as run

    source = _settings(data_dir)
    try:
        target = source.model_copy(
            update={"database_url": database_url, "storage_url": storage_url}
        )
        target = Settings.model_validate(target.model_dump())  # (the new URLs checked)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(
        f"copying {source.resolved_database_url} + {source.resolved_storage_url}\n"
        f"     to {target.resolved_database_url} + {target.resolved_storage_url}",
        err=True,
    )
    bar: Any = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="objects", file=sys.stderr)
        bar.__enter__()

    def step() -> None:
        bar.update(1)

    try:
        done = asyncio.run(run(source, target, on_objects=start, on_object=step))
    except (TargetNotEmpty, ValueError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("\nstopped; run it again: the objects copied are kept", err=True)
        sys.exit(130)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    rows = ", ".join(f"{count} {name}" for name, count in done.rows.items() if count)
    click.echo(
        f"copied {done.objects_copied} objects ({done.objects_present} already there); "
        f"rows: {rows or 'none'}; {done.jobs_queued} jobs queued again"
    )
    if not source.signing_secret:
        click.echo(
            "note: links were signed with the secret in "
            f"{source.data_dir / 'signing.key'}; give the new servers the same one "
            f"(SCOPIX_SERVER_SIGNING_SECRET=$(cat {source.data_dir / 'signing.key'})) or the "
            "links handed out before stop working",
            err=True,
        )


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@data_dir_option
@click.option("--tenant", required=True, help="Tenant name (created when new).")
@click.option(
    "--tier",
    type=click.Choice(["free", "starter", "professional", "enterprise", "custom"]),
    default=None,
    help="Tenant tier (new tenants default to custom: no caps).",
)
@click.option("--admin", is_flag=True, help="The key may manage other keys.")
@click.option("--name", default=None, help="A label for the key.")
def keys_create(
    data_dir: Path | None, tenant: str, tier: str | None, admin: bool, name: str | None
) -> None:
    """Create a key and print it (it is shown only this once)."""
    from .services.tenants import create_key, get_or_create_tenant

    settings = _settings(data_dir)

    async def work(session: Any) -> tuple[str, str, str]:
        row = await get_or_create_tenant(
            session, tenant, tier=tier, default_tier=settings.default_tier
        )
        created = await create_key(session, row, name=name or f"{tenant} key", admin=admin)
        return created.key, row.name, row.tier

    try:
        key, tenant_name, tenant_tier = _with_session(settings, work)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(key)
    click.echo(
        f"(tenant {tenant_name!r}, tier {tenant_tier}{', admin' if admin else ''}; "
        "store the key now: it cannot be shown again)",
        err=True,
    )


@keys.command("list")
@data_dir_option
@click.option("--tenant", default=None, help="Only this tenant's keys.")
def keys_list(data_dir: Path | None, tenant: str | None) -> None:
    """List keys (prefixes only; secrets are never stored)."""
    from sqlalchemy import select

    from .db.models import ApiKey, Tenant

    async def work(session: Any) -> list[tuple[ApiKey, Tenant]]:
        query = select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id)
        if tenant is not None:
            query = query.where(Tenant.name == tenant)
        return [(k, t) for k, t in (await session.execute(query.order_by(ApiKey.created_at)))]

    rows = _with_session(_settings(data_dir), work)
    if not rows:
        click.echo("no keys", err=True)
        return
    click.echo(f"{'KEY PREFIX':<17} {'TENANT':<20} {'TIER':<13} {'ADMIN':<6} {'STATE':<8} NAME")
    for key, owner in rows:
        state = "revoked" if key.revoked_at else "active"
        click.echo(
            f"{key_prefix(key.key_id):<17} {owner.name[:20]:<20} {owner.tier:<13} "
            f"{'yes' if key.is_admin else 'no':<6} {state:<8} {key.name}"
        )


@keys.command("revoke")
@data_dir_option
@click.argument("key")
def keys_revoke(data_dir: Path | None, key: str) -> None:
    """Revoke KEY (its prefix scopix_XXXXXXXX, or its id)."""
    from .services.tenants import revoke_key

    async def work(session: Any) -> str:
        row = await revoke_key(session, key)
        return key_prefix(row.key_id)

    try:
        prefix = _with_session(_settings(data_dir), work)
    except LookupError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(f"revoked {prefix}")
