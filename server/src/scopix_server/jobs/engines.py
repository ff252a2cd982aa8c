"""Which job engine runs, chosen by the settings, and what processes files behind it.

- ``open_queue``: the ``Enqueuer`` the use cases write jobs with: the embedded queue (rows of
  the server's own database) or Procrastinate (PostgreSQL; ``procrastinate_queue``).
- ``open_processing``: the pipeline with its description providers, embedder and work
  processes (the same in ``serve`` and in ``scopix-server worker``).
- ``open_workers``: the workers of this process for that queue: the embedded ``WorkerPool``, or
  Procrastinate's worker with the periodic tasks (the purge among them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..providers import DescriptionProvider, build_providers
from ..providers.embedding import Embedder
from ..settings import Settings
from ..storage import StorageBackend
from .isolation import WorkProcesses
from .pipeline import Outcome, Pipeline
from .queue import ClaimedJob, DatabaseQueue, Enqueuer
from .worker import WorkerPool

__all__ = ["Processing", "Workers", "open_processing", "open_queue", "open_workers"]


class Workers(Protocol):
    @property
    def size(self) -> int: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


def open_queue(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Enqueuer:
    """The job queue the settings choose (``SCOPIX_SERVER_JOB_QUEUE``)."""
    if settings.resolved_job_queue == "procrastinate":
        from .procrastinate_queue import ProcrastinateQueue

        return ProcrastinateQueue()
    return DatabaseQueue(
        sessions,
        lease_seconds=settings.job_lease_seconds,
        max_attempts=settings.job_max_attempts,
    )


@dataclass
class Processing:
    """The pipeline and what it holds open (closed with ``aclose``)."""

    pipeline: Pipeline
    processes: WorkProcesses
    providers: list[DescriptionProvider]

    async def aclose(self) -> None:
        self.processes.close()
        for provider in self.providers:
            await provider.aclose()


def open_processing(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    storage: StorageBackend,
    queue: Enqueuer,
    embedder: Embedder | None,
    workers: int,
) -> Processing:
    """The pipeline of ``workers`` concurrent jobs (a work process each, started on demand)."""
    providers = build_providers(settings)
    processes = WorkProcesses(
        size=workers,
        memory_bytes=settings.job_memory_bytes,
        decode_budget=settings.decode_memory_bytes,
        idle_seconds=settings.job_process_idle_seconds,
    )
    pipeline = Pipeline(
        sessions=sessions,
        storage=storage,
        settings=settings,
        providers=providers,
        threads=anyio.CapacityLimiter(max(1, workers)),
        work=processes,
        queue=queue,
        embedder=embedder,
    )
    return Processing(pipeline, processes, providers)


def open_workers(
    settings: Settings,
    queue: Enqueuer,
    run: Callable[[ClaimedJob], Awaitable[Outcome]],
    *,
    concurrency: int,
    housekeeping: Callable[[], Awaitable[None]],
    queues: Sequence[str] | None = None,
) -> Workers:
    """``concurrency`` workers of this process on the settings' queue (``queues``: only those
    of Procrastinate's queues; the embedded queue has one)."""
    if isinstance(queue, DatabaseQueue):
        return WorkerPool(
            queue,
            run,
            size=concurrency,
            lease_seconds=settings.job_lease_seconds,
            poll_seconds=settings.job_poll_seconds,
        )
    from .procrastinate_queue import ProcrastinateWorkers, build_app

    app = build_app(
        settings.resolved_database_url,
        run,
        max_attempts=settings.job_max_attempts,
        stalled_seconds=settings.job_lease_seconds,
        housekeeping=housekeeping,
        housekeeping_seconds=settings.purge_interval_seconds,
    )
    return ProcrastinateWorkers(
        app,
        concurrency=concurrency,
        heartbeat_seconds=settings.job_lease_seconds / 3,
        stalled_seconds=settings.job_lease_seconds,
        queues=queues,
    )
