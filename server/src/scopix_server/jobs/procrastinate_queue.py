"""Jobs on Procrastinate, over the deployment's PostgreSQL (``SCOPIX_SERVER_JOB_QUEUE``).

- **Enqueue**: one row through Procrastinate's own function, on the caller's connection and in
  its transaction (the one that records the file): a file is never committed without its job.
  Procrastinate's trigger sends a PostgreSQL NOTIFY when it commits, which wakes the workers of
  every machine; ``notify`` has nothing left to do.
- **Queues**, by kind of job (``QUEUES``), so each can be given its own workers: ``files``
  (decoding, variants, OCR, document text), ``descriptions`` (provider calls), ``embeddings``
  (search vectors), and ``maintenance`` (below), which every worker also takes.
- **One job per file at a time**: a job's Procrastinate ``lock`` is its file, so two jobs of one
  file (a description asked again while it is processed) never run together.
- **Workers** (``ProcrastinateWorkers``: ``scopix-server worker``, or ``serve``) run each job
  through the same ``Pipeline.run`` as the embedded queue. Its ``Outcome`` decides: a delay is
  a retry after that delay (Procrastinate counts the attempts); a failure is recorded on the
  file, and the job is done.
- **Stalled jobs**: a worker beats every third of ``job_lease_seconds``; the jobs of a worker
  silent for longer (killed, its machine gone) are put back by the periodic ``recover`` task.
  The pipeline fails a file whose jobs ran out of attempts that way.
- **Periodic work** (the purge of deleted files, expired direct uploads, orphan objects and
  finished jobs older than ``JOB_HISTORY_HOURS``) is deferred by every worker, and run once per
  tick across the cluster: Procrastinate records each tick of a periodic task under a unique
  key.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector, RetryDecision
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from ..tasks import cancel_and_wait
from .pipeline import Outcome
from .queue import ClaimedJob

__all__ = [
    "MAINTENANCE_QUEUE",
    "QUEUES",
    "ProcrastinateQueue",
    "ProcrastinateWorkers",
    "RetryLater",
    "build_app",
    "conninfo",
    "every",
]

logger = logging.getLogger("scopix_server.worker")

TASK = "scopix.file_job"
QUEUES = {"process": "files", "describe": "descriptions", "embed": "embeddings"}
MAINTENANCE_QUEUE = "maintenance"
JOB_HISTORY_HOURS = 24  # finished jobs are kept this long (``procrastinate_jobs``), then purged
_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW("
    "CAST(:queue AS varchar), CAST(:task AS varchar), CAST(:priority AS integer), "
    "CAST(:lock AS text), CAST(NULL AS text), CAST(:args AS jsonb), "
    "CAST(NULL AS timestamptz))::procrastinate_job_to_defer_v1])"
)


def conninfo(database_url: str) -> str:
    """The psycopg connection string of the server's SQLAlchemy URL (asyncpg or psycopg)."""
    url = make_url(database_url)
    parts: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    for name, value in url.query.items():
        first = value[0] if isinstance(value, tuple) else value
        parts["sslmode" if name == "ssl" else name] = first
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **{k: v for k, v in parts.items() if v is not None})


class ProcrastinateQueue:
    """The ``Enqueuer`` of a PostgreSQL deployment."""

    async def enqueue(
        self, session: AsyncSession, *, tenant_id: str, file_id: str, kind: str, priority: int = 0
    ) -> None:
        args = {"tenant_id": tenant_id, "file_id": file_id, "kind": kind}
        await session.execute(
            _DEFER,
            {
                "queue": QUEUES[kind],
                "task": TASK,
                "priority": priority,
                "lock": f"file:{file_id}",
                "args": json.dumps(args),
            },
        )

    def notify(self) -> None:
        return None  # (PostgreSQL's NOTIFY, sent at commit, wakes every worker)


class RetryLater(Exception):
    """The pipeline asked for another attempt after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


class _AsThePipelineSays(BaseRetryStrategy):
    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLater):
            moment = datetime.now(timezone.utc) + timedelta(seconds=max(0.0, exception.delay))
            return RetryDecision(retry_at=moment)
        return None


def every(seconds: float) -> str:
    """A cron schedule (with Procrastinate's seconds column) of roughly every ``seconds``."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"* * * * * */{whole}"
    if whole < 3600:
        return f"*/{max(1, whole // 60)} * * * *"
    return f"0 */{min(23, max(1, whole // 3600))} * * *"


def build_app(
    database_url: str,
    run: Callable[[ClaimedJob], Awaitable[Outcome]],
    *,
    max_attempts: int,
    stalled_seconds: float,
    housekeeping: Callable[[], Awaitable[None]] | None = None,
    housekeeping_seconds: float = 3600,
) -> App:
    """A Procrastinate app whose file jobs run ``run``, with the periodic tasks."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(database_url)))

    @app.task(name=TASK, pass_context=True, retry=_AsThePipelineSays())
    async def file_job(context: JobContext, tenant_id: str, file_id: str, kind: str) -> None:
        job = context.job
        outcome = await run(
            ClaimedJob(
                id=str(job.id),
                tenant_id=tenant_id,
                file_id=file_id,
                kind=kind,
                attempts=job.attempts + 1,  # (Procrastinate counts the attempts before this one)
                max_attempts=max_attempts,
                priority=job.priority,
            )
        )
        if outcome.retry_after is not None:
            raise RetryLater(outcome.retry_after, outcome.error or "")
        if outcome.error:  # (recorded on the file, which is the answer: the job is done)
            logger.info("job %s ended the file %s failed: %s", job.id, file_id, outcome.error)

    @app.periodic(cron=every(max(1.0, stalled_seconds / 2)), periodic_id="recover")
    @app.task(name="scopix.recover", queue=MAINTENANCE_QUEUE, queueing_lock="scopix.recover")
    async def recover(timestamp: int) -> None:  # noqa: ARG001 (passed by name)
        """Put back the jobs of workers that stopped beating."""
        stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds)
        for stuck in stalled:
            logger.warning("job %s of a worker that stopped answering runs again", stuck.id)
            await app.job_manager.retry_job(stuck)

    if housekeeping is not None:
        chore = housekeeping

        @app.periodic(cron=every(housekeeping_seconds), periodic_id="housekeeping")
        @app.task(
            name="scopix.housekeeping", queue=MAINTENANCE_QUEUE, queueing_lock="scopix.housekeeping"
        )
        async def tidy(timestamp: int) -> None:  # noqa: ARG001 (passed by name)
            await chore()
            await app.job_manager.delete_old_jobs(
                nb_hours=JOB_HISTORY_HOURS, include_failed=True, include_cancelled=True
            )

    return app


class ProcrastinateWorkers:
    """``concurrency`` workers of this process on ``queues`` (default: all of them)."""

    def __init__(
        self,
        app: App,
        *,
        concurrency: int,
        heartbeat_seconds: float,
        stalled_seconds: float,
        queues: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        self._app = app
        self._concurrency = concurrency
        self._heartbeat = heartbeat_seconds
        self._stalled = stalled_seconds
        self._queues = None if queues is None else [*dict.fromkeys([*queues, MAINTENANCE_QUEUE])]
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()

    @property
    def size(self) -> int:
        return self._concurrency

    async def run(self, *, install_signal_handlers: bool = False) -> None:
        """Work until cancelled (or, with ``install_signal_handlers``, until SIGTERM/SIGINT)."""
        options: dict[str, Any] = {}
        if self._queues is not None:
            options["queues"] = self._queues
        if self._name is not None:
            options["name"] = self._name
        async with self._app.open_async():
            self._opened.set()
            await self._app.run_worker_async(
                concurrency=self._concurrency,
                wait=True,
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=self._heartbeat,
                stalled_worker_timeout=self._stalled,
                shutdown_graceful_timeout=5.0,
                delete_jobs="never",  # (kept for a day: the purge removes them)
                **options,
            )

    def start(self) -> None:
        """Work in the background of this process (``serve``) until ``stop``."""
        self._task = asyncio.create_task(self.run(), name="scopix-procrastinate-worker")
        self._task.add_done_callback(_report)

    async def stop(self) -> None:
        if self._task is None:
            return
        # (cancelled while its connection pool opens, the pool kept trying to connect and the
        # process never ended: let it open first; cancelling the worker itself is graceful)
        opened = asyncio.create_task(self._opened.wait())
        await asyncio.wait({opened, self._task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        opened.cancel()
        failed = await cancel_and_wait(self._task)
        if failed is not None:
            logger.warning("the Procrastinate worker had ended with an error: %r", failed)
        self._task = None


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the job worker stopped", exc_info=task.exception())
