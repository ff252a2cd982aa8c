"""``create_app(settings)``: wires the database, storage, signer and routers together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ._version import __version__
from .api.deps import AppState
from .api.docs import install_docs
from .api.methods import AllowedMethodsMiddleware
from .api.openapi import install_openapi
from .api.routes import (
    analyze,
    chat,
    direct,
    files,
    health,
    keys,
    people,
    search,
    storage,
    tenant,
    uploads,
)
from .db.migrate import upgrade
from .db.session import create_engine, create_sessionmaker
from .errors import install_error_handlers
from .guards import BodyGuardMiddleware
from .jobs import (
    DatabaseQueue,
    Enqueuer,
    Processing,
    Workers,
    open_processing,
    open_queue,
    open_workers,
)
from .jobs.supervisor import WorkerSupervisor
from .metrics import Metrics
from .middleware import RequestContextMiddleware
from .providers.embedding import Embedder, build_embedder
from .search import open_index
from .services.ingest import Ingest
from .services.ratelimit import RateLimiter
from .services.reindex import queue_stale_embeddings
from .services.retention import purge_now, run_periodically
from .services.search import Searcher
from .settings import Settings
from .storage import StorageBackend, open_storage
from .storage.signing import Signer, load_or_create_secret
from .tasks import cancel_and_wait
from .web import install_console

__all__ = ["create_app"]

API_PREFIX = "/api/v2"
logger = logging.getLogger("scopix_server")


async def _prepare_search(
    sessions: async_sessionmaker[AsyncSession], queue: Enqueuer, searcher: Searcher, model: str
) -> None:
    """In the background, while the server answers: the vectors are loaded, so the first search
    does not wait for them, and files of another model (or not yet embedded) are queued for
    embedding (meanwhile they are found by their words)."""
    try:
        async with sessions() as session:
            loaded = await searcher.warm(session)
        if loaded:
            logger.info("loaded %d vectors for search", loaded)
        queued = await queue_stale_embeddings(sessions, queue, model)
    except Exception:
        logger.exception("could not prepare search (loading vectors, queueing stale files)")
        return
    if queued:
        logger.info("queued %d files for indexing with %s", queued, model)


def _start_workers(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    store: StorageBackend,
    queue: Enqueuer,
    embedder: Embedder | None,
) -> tuple[Workers | WorkerSupervisor, Processing | None]:
    """The workers of ``serve``: in processes of their own (``worker_processes``; the API
    process then holds no description provider or work process), or in this one (0)."""
    total, processes = settings.resolved_workers, settings.worker_processes
    if total and processes:
        supervisor = WorkerSupervisor(settings, jobs=total, processes=processes)
        if isinstance(queue, DatabaseQueue):
            queue.add_waker(supervisor.wake)
        supervisor.start()
        return supervisor, None
    processing = open_processing(
        settings, sessions=sessions, storage=store, queue=queue, embedder=embedder, workers=total
    )

    async def housekeeping() -> None:
        await purge_now(sessions, store, retention_days=settings.retention_days)

    workers = open_workers(
        settings, queue, processing.pipeline.run, concurrency=total, housekeeping=housekeeping
    )
    if workers.size:
        workers.start()
    return workers, processing


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application; nothing touches the disk until it starts (lifespan)."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.resolved_database_url)
        await upgrade(engine)
        store = open_storage(settings.resolved_storage_url, settings)
        leftovers = store.clean_temporary()
        if leftovers:
            logger.info("removed %d partial uploads left by an earlier stop", leftovers)
        # (the periodic purge repeats this, for leftovers of a crash without a restart)
        secret = settings.signing_secret or load_or_create_secret(settings.data_dir / "signing.key")
        sessions = create_sessionmaker(engine)
        embedder = build_embedder(settings)
        if embedder is not None:
            await embedder.start()  # (a missing or damaged model stops the start here)
        queue = open_queue(settings, sessions)
        app.state.scopix = AppState(
            settings=settings,
            sessions=sessions,
            storage=store,
            ingest=Ingest(
                sessions=sessions,
                storage=store,
                jobs=queue,
                metrics=metrics,
                max_part_bytes=settings.max_container_part_bytes,
            ),
            signer=Signer(secret),
            limiter=RateLimiter(
                settings.rate_limit_storage_url, period_seconds=settings.rate_limit_period_seconds
            ),
            metrics=metrics,
            jobs=queue,
            searcher=Searcher(
                embedder=embedder,
                index=open_index(engine.dialect.name),
                min_similarity=settings.search_min_similarity,
            ),
        )
        workers, processing = _start_workers(settings, sessions, store, queue, embedder)
        if isinstance(workers, WorkerSupervisor):
            metrics.watch_workers(workers.report)
        reindexing = (
            asyncio.create_task(
                _prepare_search(sessions, queue, app.state.scopix.searcher, embedder.model),
                name="scopix-search-start",
            )
            if embedder is not None
            else None
        )
        # (on Procrastinate the workers purge, once per tick across the cluster)
        purging = (
            asyncio.create_task(
                run_periodically(
                    sessions,
                    store,
                    retention_days=settings.retention_days,
                    interval_seconds=settings.purge_interval_seconds,
                ),
                name="scopix-housekeeping",
            )
            if isinstance(queue, DatabaseQueue)
            else None
        )
        try:
            yield
        finally:
            await cancel_and_wait(reindexing)
            await workers.stop()
            if processing is not None:
                await processing.aclose()
            if embedder is not None:
                await embedder.aclose()
            await cancel_and_wait(purging)
            await app.state.scopix.limiter.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Scopix API",
        version=__version__,
        description="Self-hosted Scopix: uploads, files, descriptions, quotas.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # (served from local assets below: install_docs)
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_openapi(app)
    install_docs(app, prefix=API_PREFIX)
    app.add_middleware(AllowedMethodsMiddleware)
    app.add_middleware(
        BodyGuardMiddleware,
        idle_timeout=settings.body_idle_timeout_seconds,
        max_per_client=settings.max_uploads_per_client,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # (outermost)
    app.include_router(health.router)
    app.include_router(health.router, prefix=API_PREFIX, include_in_schema=False)
    for module in (files, search, uploads, analyze, direct, keys, storage, tenant, people, chat):
        app.include_router(module.router, prefix=API_PREFIX)
    install_console(app, settings)
    return app
