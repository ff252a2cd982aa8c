"""Recording files: the one use case behind every route that stores one (API.md §3).

A request that has received its bytes (a multipart form, a JSON body, a direct upload's parts)
goes through ``Ingest.begin``: its ``Idempotency-Key`` (a replay ends here), a claim on every
object it may commit (``services.objects``), and with ``skip_duplicates`` the lock under which
"is this a duplicate?" is decided. Then ``Recording.store`` checks and records each file, and
``Recording.commit`` does the rest in one transaction: the quota count, the claims settled, the
idempotency answer, one job per new file, then the workers are woken. Whatever happens,
``Recording.let_go`` ends it: claims released (objects nothing uses are deleted), and the key
given up unless its answer was stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import File, Tenant
from ..jobs.queue import Enqueuer
from ..metrics import Metrics
from ..storage import StorageBackend
from . import idempotency, objects
from .quota import record_uploads
from .uploads import FilePart, Stored, UploadOptions, store_file

__all__ = ["Ingest", "Recording", "Replay", "RequestPrint"]


@dataclass(frozen=True)
class Replay:
    """The stored answer of a request made before with the same ``Idempotency-Key``."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class RequestPrint:
    """What an idempotent request means: its route, fields and the hashes of its files."""

    key: str
    route: str
    fields: dict[str, list[str]]
    file_hashes: list[str]


class Ingest:
    """Records files for the routes (and anything else that stores one)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        storage: StorageBackend,
        jobs: Enqueuer,
        metrics: Metrics,
        max_part_bytes: int,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.jobs = jobs
        self.metrics = metrics
        self.max_part_bytes = max_part_bytes  # of one part inside a container (DOCX)

    async def begin(
        self,
        session: AsyncSession,
        tenant: Tenant,
        options: UploadOptions,
        *,
        keys: Iterable[str],
        idempotent: RequestPrint | None = None,
    ) -> Recording | Replay:
        """Start recording the files stored under ``keys`` (object keys) for ``tenant``.

        With ``idempotent``, a request made before answers its stored ``Replay`` (nothing is
        claimed); one in flight waits for it or is refused (``Conflict``).
        """
        wanted = sorted(set(keys))
        claim: idempotency.Claim | None = None
        if idempotent is not None:  # (the key and the objects: one transaction)
            outcome = await idempotency.begin(
                self.sessions,
                tenant.id,
                idempotent.key,
                idempotency.fingerprint(
                    idempotent.route, idempotent.fields, idempotent.file_hashes
                ),
                with_claim=lambda claiming: objects.claim_in(claiming, wanted),
            )
            if isinstance(outcome, idempotency.Answer):
                return Replay(outcome.status_code, outcome.body)
            claim = outcome
        else:
            await objects.claim(self.sessions, wanted)
        recording = Recording(self, tenant, options, claim, claimed=wanted)
        if options.skip_duplicates:
            try:
                await objects.lock(session, wanted)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await session.rollback()
                    await recording.let_go()
                raise
        return recording


@dataclass
class Recording:
    """One request's files on their way into the database, until ``commit`` or ``let_go``."""

    ingest: Ingest
    tenant: Tenant
    options: UploadOptions
    claim: idempotency.Claim | None  # the Idempotency-Key, held by this request
    claimed: list[str] = field(default_factory=list)  # object keys this request may commit
    stored: list[Stored] = field(default_factory=list)
    committed: bool = False
    _queued: bool = False  # other jobs were queued: wake the workers after the commit

    async def store(
        self,
        session: AsyncSession,
        part: FilePart,
        *,
        max_upload_bytes: int,
        session_id: str | None = None,
        file_id: str | None = None,
    ) -> Stored:
        """Check ``part`` and record it (or find the duplicate it is); ``APIError`` refuses it
        (its object is the caller's to discard)."""
        stored = await store_file(
            session,
            self.tenant,
            part,
            self.options,
            max_upload_bytes=max_upload_bytes,
            max_part_bytes=self.ingest.max_part_bytes,
            session_id=session_id,
            file_id=file_id,
        )
        self.stored.append(stored)
        return stored

    async def queue(
        self, session: AsyncSession, row: File, kind: str, *, priority: int = 0
    ) -> None:
        """Queue another job of a file this request touches (a duplicate to describe again),
        in its transaction."""
        await self.ingest.jobs.enqueue(
            session, tenant_id=row.tenant_id, file_id=row.id, kind=kind, priority=priority
        )
        self._queued = True

    async def commit(
        self,
        session: AsyncSession,
        *,
        answer: tuple[int, dict[str, Any]] | None = None,
        priority: int = 0,
    ) -> list[File]:
        """Count the new files against the quota, commit what was recorded (with ``answer``,
        the idempotency record's, and one ``process`` job per new file) and wake the workers.

        The jobs get ``priority`` (higher: claimed before the backlog). Raises
        ``QuotaExceeded`` (nothing committed) if the new files no longer fit this month.
        Returns the new files.
        """
        new_files = [s.file for s in self.stored if not s.skipped]
        jobs = self.ingest.jobs
        # (one lock order everywhere: the objects' claim rows, then the usage counter)
        await objects.settle(session, self.claimed)
        await record_uploads(session, self.tenant, len(new_files))
        if self.claim is not None and answer is not None:
            await idempotency.remember(session, self.claim, *answer)
        for row in new_files:  # in this transaction: no file is ever committed without its job
            await jobs.enqueue(
                session, tenant_id=self.tenant.id, file_id=row.id, kind="process", priority=priority
            )
        await session.commit()
        self.committed = True
        self.claimed = []  # (settled with the rows)
        metrics = self.ingest.metrics
        for stored in self.stored:
            metrics.uploads.labels("skipped" if stored.skipped else "stored").inc()
            if not stored.skipped:
                metrics.uploaded_bytes.inc(stored.file.size_bytes)
        if new_files or self._queued:
            jobs.notify()
        return new_files

    async def let_go(self) -> None:
        """After the transaction ended (call it whatever happened): drop the object claims
        (deleting objects that nothing uses, e.g. a refused file's) and, unless the answer was
        stored, the idempotency key."""
        with anyio.CancelScope(shield=True):
            claimed, self.claimed = self.claimed, []
            if claimed:
                await objects.release(self.ingest.sessions, self.ingest.storage, claimed)
            if self.claim is not None and not self.committed:
                await idempotency.abandon(self.ingest.sessions, self.claim)
