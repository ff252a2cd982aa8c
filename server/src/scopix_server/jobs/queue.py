"""The job queue: what callers see (``Enqueuer``), what workers use (``JobQueue``), and the
embedded implementation over the ``jobs`` table (``engines.open_queue`` picks the queue).

A job is enqueued inside the caller's transaction (the one that records the file), so a file is
never committed without its job; after the commit, ``notify`` wakes idle workers. Workers claim
jobs with a lease that they renew while they run; a job whose lease ran out belongs to a worker
that died, and the next claim takes it over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import Job, utcnow

__all__ = ["ClaimedJob", "DatabaseQueue", "Enqueuer", "JobQueue"]


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    tenant_id: str
    file_id: str
    kind: str  # "process" (decoding, variants, text), "describe" or "embed"
    attempts: int  # including this one
    max_attempts: int
    priority: int = 0  # the jobs it queues get the same (a client may be waiting on them)


class Enqueuer(Protocol):
    """What the use cases see of the queue: add a job in a transaction, wake the workers."""

    async def enqueue(
        self, session: AsyncSession, *, tenant_id: str, file_id: str, kind: str, priority: int = 0
    ) -> None:
        """Add a job to the caller's transaction (it exists once that commits).

        ``kind``: ``process`` (the whole pipeline), ``describe`` (the description again) or
        ``embed`` (the search vectors again). Due jobs with a higher ``priority`` are claimed
        first (a client waits on them).
        """

    def notify(self) -> None:
        """Wake idle workers (a job was just committed)."""


class JobQueue(Enqueuer, Protocol):
    """What the workers use."""

    async def claim(self, worker_id: str) -> ClaimedJob | None:
        """Lease the next due job to ``worker_id``, or ``None`` when there is none."""

    async def renew(self, job: ClaimedJob, worker_id: str) -> bool:
        """Extend the lease; ``False`` when the worker no longer owns the job."""

    async def finish(self, job: ClaimedJob, worker_id: str, *, failed: str | None = None) -> None:
        """The job is over: done, or failed for good with the reason ``failed``."""

    async def retry(self, job: ClaimedJob, worker_id: str, *, error: str, delay: float) -> None:
        """Queue the job again after ``delay`` seconds."""

    async def release(self, job: ClaimedJob, worker_id: str) -> None:
        """Give the job back at once, unchanged (the worker is stopping)."""

    async def wait(self, timeout: float) -> None:
        """Sleep until ``notify`` or ``timeout``, whichever comes first."""


class DatabaseQueue:
    """Jobs as rows of the application's database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float,
        max_attempts: int = 3,
    ) -> None:
        self._sessions = sessions
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._wakeup = asyncio.Event()
        self._wakers: list[Callable[[], None]] = []

    def add_waker(self, wake: Callable[[], None]) -> None:
        """Also call ``wake`` on ``notify`` (the worker processes of ``serve``)."""
        self._wakers.append(wake)

    async def enqueue(
        self, session: AsyncSession, *, tenant_id: str, file_id: str, kind: str, priority: int = 0
    ) -> None:
        session.add(
            Job(
                tenant_id=tenant_id,
                file_id=file_id,
                kind=kind,
                priority=priority,
                max_attempts=self._max_attempts,
            )
        )

    async def claim(self, worker_id: str) -> ClaimedJob | None:
        now = utcnow()
        due = or_(
            and_(Job.state == "queued", Job.run_after <= now),
            and_(Job.state == "running", Job.lease_expires_at < now),  # its worker died
        )
        async with self._sessions() as session:
            candidate = (
                select(Job.id).where(due).order_by(Job.priority.desc(), Job.run_after).limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                candidate = candidate.with_for_update(skip_locked=True)
            # one statement: on SQLite writes are serialised, on PostgreSQL the row is locked
            claimed = (
                await session.execute(
                    update(Job)
                    .where(Job.id == candidate.scalar_subquery(), due)
                    .values(
                        state="running",
                        locked_by=worker_id,
                        lease_expires_at=now + self._lease,
                        attempts=Job.attempts + 1,
                        updated_at=now,
                    )
                    .returning(
                        Job.id,
                        Job.tenant_id,
                        Job.file_id,
                        Job.kind,
                        Job.attempts,
                        Job.max_attempts,
                        Job.priority,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).first()
            await session.commit()
        if claimed is None:
            return None
        return ClaimedJob(*claimed)

    async def _owned_update(self, job: ClaimedJob, worker_id: str, **values: object) -> bool:
        async with self._sessions() as session:
            result = await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.locked_by == worker_id, Job.state == "running")
                .values(updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return bool(getattr(result, "rowcount", 0))

    async def renew(self, job: ClaimedJob, worker_id: str) -> bool:
        return await self._owned_update(job, worker_id, lease_expires_at=utcnow() + self._lease)

    async def finish(self, job: ClaimedJob, worker_id: str, *, failed: str | None = None) -> None:
        ending: dict[str, object] = {"state": "failed" if failed else "done"}
        if failed:
            ending["last_error"] = failed  # (a done job keeps the reason of its last retry)
        await self._owned_update(job, worker_id, locked_by=None, lease_expires_at=None, **ending)

    async def retry(self, job: ClaimedJob, worker_id: str, *, error: str, delay: float) -> None:
        await self._owned_update(
            job,
            worker_id,
            state="queued",
            last_error=error,
            run_after=utcnow() + timedelta(seconds=delay),
            locked_by=None,
            lease_expires_at=None,
        )

    async def release(self, job: ClaimedJob, worker_id: str) -> None:
        await self._owned_update(
            job,
            worker_id,
            state="queued",
            attempts=Job.attempts - 1,  # an interrupted attempt does not count
            locked_by=None,
            lease_expires_at=None,
        )

    def notify(self) -> None:
        self._wakeup.set()
        for wake in self._wakers:
            wake()

    async def wait(self, timeout: float) -> None:
        # not asyncio.wait_for: before Python 3.12 it loses a cancellation that arrives as the
        # event is set (it returns instead), and a worker told to stop went on polling forever
        woken = asyncio.ensure_future(self._wakeup.wait())
        try:
            done, _pending = await asyncio.wait({woken}, timeout=timeout)
        finally:
            woken.cancel()
        if done:
            self._wakeup.clear()
