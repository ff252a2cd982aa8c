"""``scopix-server worker``: a process that runs jobs only (no API), on Procrastinate.

It opens what ``serve`` opens for processing (the database, storage, description providers,
embedder and work processes) and runs Procrastinate's worker until SIGTERM or SIGINT, which
let the jobs under way finish (for a few seconds; the others are put back by the cluster).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence

from ..db.migrate import upgrade
from ..db.session import create_engine, create_sessionmaker
from ..providers.embedding import build_embedder
from ..services.retention import purge_now
from ..settings import Settings
from ..storage import open_storage
from .engines import open_processing, open_queue, open_workers
from .procrastinate_queue import ProcrastinateWorkers

__all__ = ["run_worker"]

logger = logging.getLogger("scopix_server.worker")


async def run_worker(
    settings: Settings, *, concurrency: int, queues: Sequence[str] | None = None
) -> None:
    engine = create_engine(settings.resolved_database_url)
    embedder = build_embedder(settings)
    processing = None
    try:
        await upgrade(engine)
        store = open_storage(settings.resolved_storage_url, settings)
        sessions = create_sessionmaker(engine)
        if embedder is not None:
            await embedder.start()
        queue = open_queue(settings, sessions)
        processing = open_processing(
            settings,
            sessions=sessions,
            storage=store,
            queue=queue,
            embedder=embedder,
            workers=concurrency,
        )

        async def housekeeping() -> None:
            await purge_now(sessions, store, retention_days=settings.retention_days)

        workers = open_workers(
            settings,
            queue,
            processing.pipeline.run,
            concurrency=concurrency,
            housekeeping=housekeeping,
            queues=queues,
        )
        assert isinstance(workers, ProcrastinateWorkers)
        logger.info(
            "worker %s:%d: %d jobs at a time on %s",
            socket.gethostname(),
            os.getpid(),
            concurrency,
            ", ".join(queues) if queues else "every queue",
        )
        await workers.run(install_signal_handlers=True)
    finally:
        if processing is not None:
            await processing.aclose()
        if embedder is not None:
            await embedder.aclose()
        await engine.dispose()
