"""Files whose vectors are missing or from another model, found and embedded again.

At server start the stale files are queued (``embed`` jobs, in batches, in the background);
``scopix-server reindex`` embeds them in the foreground with a progress bar. Either way each
file is committed on its own, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import File, utcnow
from ..jobs.queue import Enqueuer

__all__ = ["count_stale", "queue_stale_embeddings", "stale_files"]

BATCH = 500


def _stale(model: str, *, failed: bool = False, queued: bool = False) -> ColumnElement[bool]:
    """Live, processed files not indexed by ``model``; ``queued``: also those waiting for an
    ``embed`` job (when no server runs, nothing else will index them)."""
    settled = ["pending", "completed", "skipped"] + (["failed"] if failed else [])
    other_model = or_(File.embedding_model.is_(None), File.embedding_model != model)
    stale = and_(File.embedding_status.in_(settled), other_model)
    if queued:
        stale = or_(stale, File.embedding_status.in_(("pending", "queued")))
    return and_(File.deleted_at.is_(None), File.status == "completed", stale)


async def count_stale(session: AsyncSession, model: str, *, failed: bool = False) -> int:
    """How many files ``scopix-server reindex`` has to index."""
    stale = _stale(model, failed=failed, queued=True)
    return await session.scalar(select(func.count()).where(stale)) or 0


async def stale_files(
    sessions: async_sessionmaker[AsyncSession], model: str, *, failed: bool = False
) -> AsyncIterator[str]:
    """Ids of the files ``scopix-server reindex`` indexes, a batch at a time, in id order
    (resumable: a file indexed meanwhile is no longer stale and is not read again)."""
    after = ""
    while True:
        async with sessions() as session:
            ids = list(
                await session.scalars(
                    select(File.id)
                    .where(_stale(model, failed=failed, queued=True), File.id > after)
                    .order_by(File.id)
                    .limit(BATCH)
                )
            )
        if not ids:
            return
        for file_id in ids:
            yield file_id
        after = ids[-1]


async def queue_stale_embeddings(
    sessions: async_sessionmaker[AsyncSession], queue: Enqueuer, model: str
) -> int:
    """Queue an ``embed`` job for every stale file, a batch per transaction; how many."""
    queued = 0
    after = ""
    while True:
        async with sessions() as session:
            ids = list(
                await session.scalars(
                    select(File.id)
                    .where(_stale(model), File.id > after)
                    .order_by(File.id)
                    .limit(BATCH)
                )
            )
            if not ids:
                break
            after = ids[-1]
            # conditional: files queued or embedded meanwhile (by another server) stay as they are
            taken = (
                await session.execute(
                    update(File)
                    .where(File.id.in_(ids), _stale(model))
                    .values(embedding_status="queued", updated_at=utcnow())
                    .returning(File.id, File.tenant_id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            for file_id, tenant_id in taken:
                await queue.enqueue(session, tenant_id=tenant_id, file_id=file_id, kind="embed")
            await session.commit()
        queued += len(taken)
        queue.notify()
    return queued
