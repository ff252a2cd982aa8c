"""``/files/upload/batch`` and ``/uploads``: batch uploads, their sessions, the quota check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from ...db.models import File, UploadSession
from ...errors import APIError
from ...schemas import BatchUploadResult, QuotaCheck, SessionProgress, SessionResults, page
from ...services import files as file_service
from ...services import sessions as session_service
from ...services.quota import quota_info
from ...services.tiers import limits_for
from ...services.uploads import refusal_of, safe_filename
from ..deps import AuthDep, SessionDep, StateDep
from ..ingest import (
    file_urls,
    receive_upload,
    upload_request_body,
)
from ..openapi import errors
from ..replay import idempotent

__all__ = ["router"]

router = APIRouter(tags=["uploads"])

MAX_BATCH_FILES = 10_000  # for tiers without a batch limit


@router.get("/uploads/quota-check", response_model=QuotaCheck, summary="Can N uploads proceed?")
async def quota_check(
    auth: AuthDep,
    session: SessionDep,
    file_count: Annotated[int, Query(ge=1, le=1_000_000)],
) -> dict[str, Any]:
    return await quota_info(session, auth.tenant, file_count)


@router.post(
    "/files/upload/batch",
    status_code=201,
    response_model=BatchUploadResult,
    summary="Upload several files in one request (repeated 'files' fields)",
    responses=errors(400, 409, 413, 415, 503),
    openapi_extra=upload_request_body(
        "files", {"type": "array", "items": {"type": "string", "format": "binary"}}
    ),
)
async def upload_batch(
    request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> JSONResponse:
    settings = state.settings
    async with receive_upload(
        request,
        session,
        state,
        auth,
        route="files.upload.batch",
        file_field="files",
        max_files=limits_for(auth.tenant.tier).max_batch_size or MAX_BATCH_FILES,
        max_body_bytes=settings.max_batch_bytes,
    ) as upload:
        if upload.replayed is not None:
            return upload.replayed
        parts = upload.form.files
        batch = UploadSession(tenant_id=auth.tenant.id, total_files=len(parts))
        session.add(batch)
        await session.flush()
        results: list[dict[str, Any]] = []
        for part in parts:
            try:
                stored = await upload.store(
                    session, part, max_upload_bytes=settings.max_upload_bytes, session_id=batch.id
                )
            except APIError as refusal:  # one bad file never sinks the others
                await part.pending.abort()
                batch.rejected_files += 1
                results.append(
                    {"filename": safe_filename(part.filename), "error": refusal_of(refusal)}
                )
                continue
            if stored.skipped:
                batch.skipped_files += 1
            else:
                batch.accepted_files += 1
            results.append(
                file_service.upload_record(
                    stored.file, skipped=stored.skipped, filename=stored.filename
                )
            )
        accepted = batch.accepted_files + batch.skipped_files
        still_working = any(r.get("status") == "processing" for r in results)
        status = (
            "rejected"
            if accepted == 0
            else "partial"
            if batch.rejected_files
            else "processing"
            if still_working
            else "completed"
        )
        batch.status = "failed" if accepted == 0 else "processing"
        body = BatchUploadResult.model_validate(
            {
                "session_id": batch.id,
                "total_files": batch.total_files,
                "accepted_files": accepted,
                "rejected_files": batch.rejected_files,
                "status": status,
                "results": results,
                "status_url": f"/api/v2/uploads/sessions/{batch.id}",
            }
        ).model_dump(mode="json")
        return await upload.commit(session, 201, body)


@router.get(
    "/uploads/sessions/{session_id}", response_model=SessionProgress, summary="Batch progress"
)
async def get_upload_session(session_id: str, auth: AuthDep, session: SessionDep) -> Any:
    upload = await session_service.get_session(session, auth.tenant.id, session_id)
    return await session_service.progress(session, upload)


@router.get(
    "/uploads/sessions/{session_id}/results",
    response_model=SessionResults,
    summary="The stored files of a batch, with their descriptions",
)
async def session_results(
    session_id: str,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    upload = await session_service.get_session(session, auth.tenant.id, session_id)
    query = select(File).where(File.session_id == upload.id, File.deleted_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        await session.scalars(query.order_by(File.created_at, File.id).limit(limit).offset(offset))
    )
    items = [file_service.details(row, urls=file_urls(request, state, row)) for row in rows]
    return page(items, total=total, limit=limit, offset=offset)


@router.post(
    "/uploads/sessions/{session_id}/cancel",
    response_model=SessionProgress,
    summary="Cancel what a batch has not started yet",
    responses=errors(409),
)
async def cancel_session(
    session_id: str, request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> Any:
    async with idempotent(
        request, session, state, auth, "sessions.cancel", {"id": session_id}
    ) as replay:
        if replay.answer is not None:
            return replay.answer
        upload = await session_service.get_session(session, auth.tenant.id, session_id)
        await session_service.cancel(session, upload)
        await session.flush()
        body = SessionProgress.model_validate(
            await session_service.progress(session, upload)
        ).model_dump(mode="json")
        await replay.remember(session, 200, body)
        await session.commit()
        return body
