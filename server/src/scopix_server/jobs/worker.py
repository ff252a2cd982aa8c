"""The in-process worker pool: claims jobs, keeps their leases alive, and reports outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from ..tasks import cancel_and_wait
from .memory import release_freed
from .pipeline import Outcome
from .queue import ClaimedJob, JobQueue

__all__ = ["WorkerPool"]

logger = logging.getLogger("scopix_server.worker")


class WorkerPool:
    """``size`` workers, each running one job at a time, started and stopped with the app."""

    def __init__(
        self,
        queue: JobQueue,
        run: Callable[[ClaimedJob], Awaitable[Outcome]],
        *,
        size: int,
        lease_seconds: float,
        poll_seconds: float,
    ) -> None:
        self._queue = queue
        self._run = run
        self._size = size
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._prefix = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    @property
    def size(self) -> int:
        return self._size

    def start(self) -> None:
        for number in range(self._size):
            worker_id = f"{self._prefix}:{number}"
            self._tasks.append(asyncio.create_task(self._work(worker_id), name=worker_id))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()

    async def _work(self, worker_id: str) -> None:
        while True:
            try:
                job = await self._queue.claim(worker_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not claim a job; trying again shortly")
                await asyncio.sleep(self._poll)
                continue
            if job is None:
                await self._queue.wait(self._poll)
                continue
            await self._handle(job, worker_id)
            # what the job freed goes back to the OS, not kept by the allocator for later
            await asyncio.to_thread(release_freed)

    async def _handle(self, job: ClaimedJob, worker_id: str) -> None:
        renewing = asyncio.create_task(self._renew(job, worker_id))
        try:
            outcome = await self._run(job)
        except asyncio.CancelledError:
            # stopping: hand the job back so that the next start runs it at once
            with contextlib.suppress(Exception):
                await asyncio.shield(self._queue.release(job, worker_id))
            raise
        except Exception:  # e.g. the database went away mid-job
            # the worker lives on; the lease runs out and the job runs again (attempts counted)
            logger.exception("job %s stopped with an error", job.id)
            return
        finally:
            await cancel_and_wait(renewing)
        # work that is done is recorded even when the pool is stopped meanwhile: stopping
        # waits for the record instead of leaving the job to run again when its lease ends
        recording = asyncio.ensure_future(self._record(job, worker_id, outcome))
        try:
            await asyncio.shield(recording)
        except asyncio.CancelledError:
            await asyncio.wait({recording})
            raise

    async def _record(self, job: ClaimedJob, worker_id: str, outcome: Outcome) -> None:
        try:
            if outcome.retry_after is not None:
                await self._queue.retry(
                    job, worker_id, error=outcome.error or "", delay=outcome.retry_after
                )
            else:
                await self._queue.finish(job, worker_id, failed=outcome.error)
        except Exception:
            logger.exception("could not record the outcome of job %s", job.id)

    async def _renew(self, job: ClaimedJob, worker_id: str) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                if not await self._queue.renew(job, worker_id):
                    logger.warning("lost the lease of job %s", job.id)
                    return
            except Exception:
                logger.exception("could not renew the lease of job %s", job.id)
