"""``scopix-server migrate-to``: an installation copied to another database and storage (an
embedded one to PostgreSQL + S3), the source left as it was.

Order, so that an interruption loses nothing and a second run finishes the work:

1. the target database is migrated and must hold no tenant yet (a copy never merges);
2. every stored object (originals and what was derived from them) is copied to the target
   storage under the same key; one already there is skipped, so a second run resumes;
3. every table is copied in one transaction of the target (all or nothing), in the order of its
   foreign keys; the search index of the target database follows the rows (PostgreSQL's
   generated ``tsvector``, SQLite's FTS triggers) and its vectors are the same vectors;
4. the jobs that had not run (files still processing) are queued again on the target's queue
   (Procrastinate on PostgreSQL); the source's finished jobs are history and stay behind;
5. the rows of each table are counted on both sides.

The source must not change meanwhile: stop its server first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db.migrate import upgrade
from ..db.models import Base, Job
from ..db.session import create_engine, create_sessionmaker
from ..jobs.engines import open_queue
from ..settings import Settings
from ..storage import StorageBackend, open_storage

__all__ = ["TargetNotEmpty", "Transfer", "migrate_to"]

BATCH = 1000
_SKIPPED_TABLES = {Job.__tablename__}  # (the open jobs are queued again: step 4)


class TargetNotEmpty(RuntimeError):
    pass


@dataclass
class Transfer:
    """What a migration did."""

    objects_copied: int = 0
    objects_present: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    jobs_queued: int = 0


async def migrate_to(
    source: Settings,
    target: Settings,
    *,
    on_objects: Callable[[int], None] = lambda _total: None,
    on_object: Callable[[], None] = lambda: None,
) -> Transfer:
    """Copy ``source``'s database and objects into ``target``'s (see the module's steps)."""
    if (source.resolved_database_url, source.resolved_storage_url) == (
        target.resolved_database_url,
        target.resolved_storage_url,
    ):
        raise ValueError("the target is the source: name another database or storage")
    done = Transfer()
    source_engine = create_engine(source.resolved_database_url)
    target_engine = create_engine(target.resolved_database_url)
    try:
        await upgrade(source_engine)
        await upgrade(target_engine)
        async with target_engine.connect() as connection:
            tenants = (await connection.execute(text("SELECT count(*) FROM tenants"))).scalar()
        if tenants:
            raise TargetNotEmpty(
                f"the target database already has {tenants} tenant(s); migrate-to copies into "
                "an empty database only (create a new one)"
            )
        await _copy_objects(
            open_storage(source.resolved_storage_url, source),
            open_storage(target.resolved_storage_url, target),
            done,
            on_objects,
            on_object,
        )
        await _copy_rows(source_engine, target_engine, target, done)
        await _compare(source_engine, target_engine, done)
        return done
    finally:
        await source_engine.dispose()
        await target_engine.dispose()


async def _copy_objects(
    source: StorageBackend,
    target: StorageBackend,
    done: Transfer,
    on_objects: Callable[[int], None],
    on_object: Callable[[], None],
) -> None:
    keys = [key async for key in source.keys_older_than(-60.0)]  # (every key, however new)
    on_objects(len(keys))
    for key in keys:
        if await target.exists(key):
            done.objects_present += 1
        else:
            async with source.local_copy(key) as path:
                await target.put_file(key, path)
            done.objects_copied += 1
        on_object()


async def _copy_rows(
    source: AsyncEngine, target: AsyncEngine, settings: Settings, done: Transfer
) -> None:
    sessions = create_sessionmaker(target)
    async with source.connect() as reading, sessions() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in _SKIPPED_TABLES:
                continue
            copied = 0
            result = await reading.stream(select(table))
            async for rows in result.partitions(BATCH):
                await session.execute(insert(table), [dict(row._mapping) for row in rows])
                copied += len(rows)
            done.rows[table.name] = copied
        if target.dialect.name == "postgresql":  # (ids were copied: the sequences follow)
            for table in Base.metadata.sorted_tables:
                for column in table.primary_key.columns:
                    if column.autoincrement is True:
                        await session.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                f"'{column.name}'), coalesce(max({column.name}), 0) + 1, false) "
                                f"FROM {table.name}"
                            )
                        )
        queue = open_queue(settings, sessions)
        open_jobs = await reading.execute(
            select(Job.tenant_id, Job.file_id, Job.kind, Job.priority)
            .where(Job.state.in_(("queued", "running")))
            .order_by(Job.created_at)
        )
        for job in open_jobs:
            await queue.enqueue(
                session,
                tenant_id=job.tenant_id,
                file_id=job.file_id,
                kind=job.kind,
                priority=job.priority,
            )
            done.jobs_queued += 1
        await session.commit()


async def _compare(source: AsyncEngine, target: AsyncEngine, done: Transfer) -> None:
    for name, copied in done.rows.items():
        table = Base.metadata.tables[name]
        counts: list[Any] = []
        for engine in (source, target):
            async with engine.connect() as connection:
                counts.append(
                    (await connection.execute(select(func.count()).select_from(table))).scalar()
                )
        if not counts[0] == counts[1] == copied:
            raise RuntimeError(
                f"table {name}: {counts[0]} rows in the source, {counts[1]} in the target after "
                f"copying {copied}; the source changed during the copy (stop its server)"
            )
