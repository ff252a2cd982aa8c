"""Housekeeping: purge deleted files after the retention window, drop old idempotency records,
and sweep orphan objects.

A deleted file's row goes after ``retention_days``; its bytes go too unless another row (of the
same tenant, with the same content) still uses the object, or a request is about to
(``services.objects`` decides). An orphan is an object that no row
references (a crash between storing the bytes and recording the row leaves one); it is removed
once it is older than ``ORPHAN_GRACE``, which is far longer than any upload takes to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import DirectUpload, File, IdempotencyRecord, utcnow
from ..storage import StorageBackend, file_of_derived
from .direct import staged, staging_of
from .idempotency import WINDOW
from .objects import delete_unused, forget_settled

__all__ = [
    "ORPHAN_GRACE",
    "PurgeReport",
    "purge",
    "purge_now",
    "run_periodically",
    "sweep_orphans",
]

logger = logging.getLogger("scopix_server")


ORPHAN_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class PurgeReport:
    files: int
    objects: int
    idempotency_records: int
    orphans: int = 0
    expired_uploads: int = 0  # direct uploads past their expiry, their parts removed


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    storage: StorageBackend,
    *,
    retention_days: int,
    now: datetime | None = None,
    batch_size: int = 500,
) -> PurgeReport:
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    files = objects = 0
    while True:
        async with sessions() as session:
            rows = list(
                await session.scalars(
                    select(File)
                    .where(File.deleted_at.is_not(None), File.deleted_at <= cutoff)
                    .limit(batch_size)
                )
            )
            if not rows:
                break
            keys = {row.object_key for row in rows}
            derived = [key for row in rows for key in _derived_keys(row)]
            for row in rows:
                await session.delete(row)
            await session.commit()
            files += len(rows)
            for key in derived:  # a file's own renditions and text go with it
                await storage.delete(key)
            # (the bytes go unless another row uses them or a request is about to)
            objects += await delete_unused(session, storage, keys)
    async with sessions() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - WINDOW)
        )
        await session.commit()
        records = getattr(result, "rowcount", 0) or 0
    async with sessions() as session:
        await forget_settled(session)
    orphans = await sweep_orphans(sessions, storage, grace=ORPHAN_GRACE, batch_size=batch_size)
    orphans += await anyio.to_thread.run_sync(storage.clean_temporary)
    expired = await expire_direct_uploads(sessions, storage, now=now)
    return PurgeReport(
        files=files,
        objects=objects,
        idempotency_records=records,
        orphans=orphans,
        expired_uploads=expired,
    )


async def expire_direct_uploads(
    sessions: async_sessionmaker[AsyncSession], storage: StorageBackend, *, now: datetime
) -> int:
    """Mark pending direct uploads past their expiry as expired and remove their parts."""
    async with sessions() as session:
        stale = list(
            await session.scalars(
                select(DirectUpload).where(
                    DirectUpload.expires_at < now,
                    or_(
                        DirectUpload.state == "pending",
                        # (a complete whose server died in the middle of it)
                        and_(
                            DirectUpload.state == "completing",
                            DirectUpload.updated_at < now - timedelta(days=1),
                        ),
                    ),
                )
            )
        )
        for upload in stale:
            upload.state = "expired"
        await session.commit()
    if stale:
        staging = staging_of(storage)
        for upload in stale:  # (S3: AbortMultipartUpload, and the staged object goes)
            await staging.discard(staged(upload))
    return len(stale)


def _derived_keys(row: File) -> list[str]:
    return [*(row.variants or {}).values(), *([row.text_key] if row.text_key else [])]


async def sweep_orphans(
    sessions: async_sessionmaker[AsyncSession],
    storage: StorageBackend,
    *,
    grace: timedelta,
    batch_size: int = 500,
) -> int:
    """Delete objects older than ``grace`` that no file row (live or deleted) references.

    An original is used while a row names it; a derived object (variant, text) while the file
    it was made for still has a row.
    """
    removed = 0
    batch: list[str] = []

    async def flush() -> int:
        owners = {key: file_of_derived(key) for key in batch}
        async with sessions() as session:
            used = set(
                await session.scalars(
                    select(File.object_key).where(File.object_key.in_(batch)).distinct()
                )
            )
            wanted = {owner for owner in owners.values() if owner}
            alive = set(await session.scalars(select(File.id).where(File.id.in_(wanted))))
        originals = [key for key in batch if owners[key] is None and key not in used]
        derived = [key for key in batch if owners[key] is not None and owners[key] not in alive]
        for key in derived:  # (nothing else ever writes a dead file's renditions)
            await storage.delete(key)
        async with sessions() as session:  # decided again under the keys' locks
            deleted = await delete_unused(session, storage, originals)
        batch.clear()
        return deleted + len(derived)

    async for key in storage.keys_older_than(grace.total_seconds()):
        batch.append(key)
        if len(batch) >= batch_size:
            removed += await flush()
    if batch:
        removed += await flush()
    return removed


async def purge_now(
    sessions: async_sessionmaker[AsyncSession], storage: StorageBackend, *, retention_days: int
) -> PurgeReport:
    """One purge, logged when it removed anything."""
    report = await purge(sessions, storage, retention_days=retention_days)
    if report.files or report.idempotency_records or report.orphans or report.expired_uploads:
        logger.info(
            "purged %d deleted files (%d objects), %d idempotency records, %d orphans, "
            "%d expired direct uploads",
            report.files,
            report.objects,
            report.idempotency_records,
            report.orphans,
            report.expired_uploads,
        )
    return report


async def run_periodically(
    sessions: async_sessionmaker[AsyncSession],
    storage: StorageBackend,
    *,
    retention_days: int,
    interval_seconds: float,
) -> None:
    """Purge now and then every ``interval_seconds`` until cancelled; failures are logged."""
    while True:
        try:
            await purge_now(sessions, storage, retention_days=retention_days)
        except Exception:  # keep the schedule; the next run tries again
            logger.exception("purge failed")
        await anyio.sleep(interval_seconds)
