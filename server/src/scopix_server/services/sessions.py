"""Upload sessions: the progress of one batch, computed from its files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import File, UploadSession, utcnow
from ..errors import NotFound

__all__ = ["cancel", "get_session", "progress"]

_PENDING = ("pending", "queued", "processing")


async def get_session(session: AsyncSession, tenant_id: str, session_id: str) -> UploadSession:
    row = await session.scalar(
        select(UploadSession).where(
            UploadSession.id == session_id, UploadSession.tenant_id == tenant_id
        )
    )
    if row is None:
        raise NotFound(
            f"Upload session {session_id} not found",
            details={"resource_type": "upload_session", "resource_id": session_id},
        )
    return row


async def progress(session: AsyncSession, upload: UploadSession) -> dict[str, Any]:
    """``{session_id, status, total_files, completed_files, ...}`` as API.md describes."""
    counts = dict(
        (
            await session.execute(
                select(File.description_status, func.count())
                .where(File.session_id == upload.id, File.deleted_at.is_(None))
                .group_by(File.description_status)
            )
        ).all()
    )
    pending = sum(counts.get(state, 0) for state in _PENDING)
    completed = counts.get("completed", 0) + counts.get("skipped", 0)
    failed = counts.get("failed", 0) + upload.rejected_files
    skipped = upload.skipped_files
    total = upload.total_files
    if upload.status == "cancelled":
        status = "cancelled"
    elif pending:
        status = "processing"
    elif total and failed == total:
        status = "failed"
    else:
        status = "completed"
    done = total - pending
    return {
        "session_id": upload.id,
        "status": status,
        "total_files": total,
        "completed_files": completed,
        "failed_files": failed,
        "skipped_files": skipped,
        "pending_files": pending,
        "progress_percentage": round(100.0 * done / total, 1) if total else 100.0,
        "created_at": upload.created_at,
        "updated_at": upload.updated_at,
    }


async def cancel(session: AsyncSession, upload: UploadSession) -> None:
    """Stop what has not started: pending descriptions of the batch are skipped."""
    upload.status = "cancelled"
    upload.updated_at = utcnow()
    await session.execute(
        update(File)
        .where(File.session_id == upload.id, File.description_status.in_(("pending", "queued")))
        .values(description_status="skipped", updated_at=utcnow())
    )
