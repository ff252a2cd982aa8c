"""Reading and changing files, always within one tenant, never showing deleted ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import File, utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..ids import canonical_id
from ..jobs.queue import Enqueuer
from ..search.lexical import escape_like, search_filter
from ..vision import Sight

__all__ = [
    "ListQuery",
    "all_tags",
    "change",
    "details",
    "get_file",
    "is_terminal",
    "list_files",
    "list_filters",
    "processing_status",
    "queue_description",
    "recategorise",
    "state_filter",
    "summary",
    "upload_record",
]

TERMINAL = {"completed", "failed", "skipped"}
SORTABLE = {
    "created_at": File.created_at,
    "content_created_at": File.content_created_at,
    "title": File.title,
    "size_bytes": File.size_bytes,
}


def _not_found(file_id: str) -> NotFound:
    return NotFound(
        f"File {file_id} not found",
        details={"resource_type": "file", "resource_id": file_id},
    )


async def get_file(session: AsyncSession, tenant_id: str, file_id: str) -> File:
    """The live file ``file_id`` of this tenant, or 404 (ids of other tenants look missing)."""
    stored = canonical_id(file_id)
    if stored is None:
        raise _not_found(file_id)
    row = await session.scalar(
        select(File).where(
            File.id == stored, File.tenant_id == tenant_id, File.deleted_at.is_(None)
        )
    )
    if row is None:
        raise _not_found(file_id)
    return row


def upload_record(
    row: File, *, skipped: bool = False, filename: str | None = None
) -> dict[str, Any]:
    """API.md's upload record; for a skipped duplicate, ``row`` is the existing file."""
    return {
        "image_id": row.id,
        "filename": filename or row.filename,
        "media_type": row.media_type,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "content_hash": row.content_hash,
        "object_key": row.object_key,
        "status": "skipped" if skipped else row.status,
        "description_status": "skipped" if skipped else row.description_status,
        "skipped": skipped,
        "skipped_existing_image_id": row.id if skipped else None,
        "thumbnail_url": None,
        "created_at": row.created_at,
    }


def all_tags(row: File) -> list[str]:
    """The user's tags, then the description's (each once)."""
    return list(dict.fromkeys([*(row.tags or []), *(row.ai_tags or [])]))


def summary(row: File, *, thumbnail_url: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "title": row.title,
        "tags": all_tags(row),
        "media_type": row.media_type,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "content_category": row.content_category,
        "description_status": row.description_status,
        "status": row.status,
        "is_terminal": is_terminal(row),
        "blur_hash": row.blur_hash,
        "thumbnail_url": thumbnail_url,
        "created_at": row.created_at,
        "content_created_at": row.content_created_at,
    }


def details(row: File, *, urls: Mapping[str, str | None]) -> dict[str, Any]:
    """Everything about a file; ``urls``: thumbnail_url, medium_url, full_url, original_url."""
    dimensions = {"width": row.width, "height": row.height} if row.width and row.height else None
    seen = Sight.recorded(row.vision)  # (None: not looked at, or the models failed)
    return {
        **upload_record(row),
        "id": row.id,
        "title": row.title,
        "tags": all_tags(row),
        "user_tags": list(row.tags or []),
        "key_elements": row.key_elements,
        "analysis_level": row.analysis_level,
        "provider_count": row.provider_count,
        "content_category": row.content_category,
        "folder_id": row.folder_id,
        "project_id": row.project_id,
        "description": row.description,
        "visible_text": row.visible_text,
        "text_regions": row.text_regions,
        "confidence_score": row.confidence_score,
        "description_error": row.description_error,
        "description_error_type": row.description_error_type,
        "description_is_retryable": row.description_is_retryable,
        "provider_errors": list(row.provider_errors or []),
        "labels": None if seen is None else [{"label": n, "confidence": p} for n, p in seen.labels],
        "faces": None if seen is None else [face.to_json() for face in seen.faces],
        "safety_score": row.safety_score,
        "dimensions": dimensions,
        "format": row.format,
        "content_created_at": row.content_created_at,
        "blur_hash": row.blur_hash,
        "variant_status": row.variant_status,
        "is_terminal": is_terminal(row),
        "thumbnail_url": urls.get("thumbnail_url"),
        "medium_url": urls.get("medium_url"),
        "full_url": urls.get("full_url"),
        "original_url": urls.get("original_url"),
        "page_count": row.page_count,
        "chunk_count": row.chunk_count,
        "text_extraction_status": row.text_extraction_status,
        "embedding_status": row.embedding_status,
        "embedding_model": row.embedding_model,
        "embedding_error": row.embedding_error,
        "updated_at": row.updated_at,
    }


def is_terminal(row: File) -> bool:
    """Every processing step of ``row`` has ended (completed, failed or skipped)."""
    steps = [row.status, row.description_status, row.variant_status, row.embedding_status]
    if row.text_extraction_status is not None:
        steps.append(row.text_extraction_status)
    return all(step in TERMINAL for step in steps)


def _terminal_clause() -> ColumnElement[bool]:
    """``is_terminal`` in SQL."""
    return and_(
        File.status.in_(TERMINAL),
        File.description_status.in_(TERMINAL),
        File.variant_status.in_(TERMINAL),
        File.embedding_status.in_(TERMINAL),
        or_(File.text_extraction_status.is_(None), File.text_extraction_status.in_(TERMINAL)),
    )


def state_filter(states: tuple[str, ...]) -> ColumnElement[bool]:
    """Files in any of ``states``: ``processing`` (a step has not ended), ``failed`` (every step
    ended; the file or its description failed), ``completed`` (every step ended, neither failed)."""
    terminal = _terminal_clause()
    broke = or_(File.status == "failed", File.description_status == "failed")
    clauses = {
        "processing": not_(terminal),
        "failed": and_(terminal, broke),
        "completed": and_(terminal, not_(broke)),
    }
    return or_(*(clauses[state] for state in states))


def processing_status(row: File) -> dict[str, Any]:
    return {
        "file_id": row.id,
        "media_type": row.media_type,
        "status": row.status,
        "description_status": row.description_status,
        "variant_status": row.variant_status,
        "text_extraction_status": row.text_extraction_status,
        "page_count": row.page_count,
        "chunk_count": row.chunk_count,
        "description_error": row.description_error,
        "description_error_type": row.description_error_type,
        "description_is_retryable": row.description_is_retryable,
        "provider_errors": list(row.provider_errors or []),
        "embedding_status": row.embedding_status,
        "embedding_error": row.embedding_error,
        "is_terminal": is_terminal(row),
        "updated_at": row.updated_at,
    }


@dataclass(frozen=True)
class ListQuery:
    search: str | None = None
    search_mode: str = "all"
    tags: tuple[str, ...] = ()
    media_types: tuple[str, ...] = ()
    folder_id: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    has_description: bool | None = None
    statuses: tuple[str, ...] = ()  # processing, completed, failed: see state_filter
    ids: tuple[str, ...] = ()
    safe_below: float | None = None  # only files scored under this (and unscored non-images)
    sort_by: str = "created_at"
    sort_order: str = "desc"
    limit: int = 20
    offset: int = 0


def list_filters(q: ListQuery) -> list[ColumnElement[bool]]:
    """The list's conditions on files, but for the tenant, deletion and the search."""
    where: list[ColumnElement[bool]] = []
    if q.media_types:
        where.append(File.media_type.in_(q.media_types))
    if q.folder_id:
        where.append(File.folder_id == q.folder_id)
    if q.date_from:
        where.append(File.created_at >= q.date_from)
    if q.date_to:
        where.append(File.created_at <= q.date_to)
    if q.has_description is True:
        where.append(File.description_status == "completed")
    elif q.has_description is False:
        where.append(File.description_status != "completed")
    if q.statuses:
        where.append(state_filter(q.statuses))
    if q.ids:
        where.append(File.id.in_(q.ids))
    if q.safe_below is not None:  # a picture not scored yet is not known to be safe
        where.append(
            or_(
                File.safety_score < q.safe_below,
                and_(File.safety_score.is_(None), File.media_type != "image"),
            )
        )
    for tag in q.tags:  # all must match: each tag's JSON token appears in one of the lists
        token = f"%{escape_like(json.dumps(tag))}%"
        where.append(
            or_(
                cast(File.tags, String).like(token, escape="\\"),
                cast(File.ai_tags, String).like(token, escape="\\"),
            )
        )
    return where


def _filtered(tenant_id: str, q: ListQuery, dialect: str) -> Select[File]:
    query = select(File).where(File.tenant_id == tenant_id, File.deleted_at.is_(None))
    if q.search:
        query = query.where(search_filter(q.search, q.search_mode, dialect))
    return query.where(*list_filters(q))


async def list_files(session: AsyncSession, tenant_id: str, q: ListQuery) -> tuple[list[File], int]:
    """One page of files and the total count, filtered, sorted and paged in SQL."""
    if q.sort_by not in SORTABLE:
        raise ValidationFailed(f"sort_by must be one of {', '.join(SORTABLE)}")
    query = _filtered(tenant_id, q, session.get_bind().dialect.name)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = SORTABLE[q.sort_by]
    order = column.asc().nulls_last() if q.sort_order == "asc" else column.desc().nulls_last()
    page = query.order_by(order, File.id).limit(q.limit).offset(q.offset)
    return list(await session.scalars(page)), total


async def change(
    session: AsyncSession,
    jobs: Enqueuer,
    row: File,
    *,
    title: str | None,
    tags: list[str] | None,
    searched: bool,
) -> None:
    """Change the title (``""``: none) and/or the tags (None: unchanged) and commit. With
    ``searched`` (search by meaning is on), a processed file is queued to be embedded again:
    its title and tags are part of its vectors."""
    if tags is not None:
        row.tags = tags
    if title is not None:
        row.title = title or None
    row.updated_at = utcnow()
    reindex = searched and row.status == "completed"
    if reindex:
        row.embedding_status = "queued"
        await jobs.enqueue(session, tenant_id=row.tenant_id, file_id=row.id, kind="embed")
    await session.commit()
    if reindex:
        jobs.notify()


async def queue_description(session: AsyncSession, jobs: Enqueuer, row: File) -> None:
    """Queue ``row`` to be described again, in the caller's transaction (the caller commits,
    then ``jobs.notify()``). Of two concurrent requests one queues the job (one conditional
    update decides) and the other gets ``Conflict``."""
    queued = await session.execute(
        update(File)
        .where(
            File.id == row.id,
            File.deleted_at.is_(None),
            File.description_status.not_in(("queued", "processing")),
        )
        .values(
            description_status="queued",
            description_error=None,
            description_error_type=None,
            description_is_retryable=None,
            updated_at=utcnow(),
        )
    )
    if getattr(queued, "rowcount", 0) != 1:
        await session.rollback()
        await session.refresh(row)
        raise Conflict(
            f"file {row.id} is being described already ({row.description_status}); wait "
            "for /status to be terminal"
        )
    await jobs.enqueue(session, tenant_id=row.tenant_id, file_id=row.id, kind="describe")
    await session.refresh(row)


def recategorise(row: File, category: str) -> bool:
    """A duplicate asked for under another ``content_category`` is described again under it
    (the hosted API describes per category); ``auto`` keeps the stored one. True when it needs
    a ``describe`` job (the caller queues it)."""
    if category in ("auto", row.content_category) or row.description_status == "processing":
        return False  # (a description under way finishes under the category it started with)
    row.content_category = category
    row.updated_at = utcnow()
    if row.description_status in ("pending", "queued"):
        return False  # its job has not run yet: it reads the new category
    row.description_status = "queued"
    row.description_error = row.description_error_type = None
    row.description_is_retryable = None
    return True
