"""``/files/upload/batch`` and ``/uploads``: batch uploads, their sessions, the quota check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from ...db.models import File, UploadSession
from ...errors import APIError, ValidationFailed
from ...schemas import BatchUploadResult, QuotaCheck, SessionProgress, SessionResults
from ...services import files as file_service
from ...services import sessions as session_service
from ...services.idempotency import check_key, fingerprint, replay
from ...services.quota import check_quota, quota_info, record_uploads
from ...services.tiers import limits_for
from ...services.uploads import parse_options, refusal_of, safe_filename, store_file
from ..deps import AuthDep, SessionDep, StateDep, upload_slot
from ..ingest import (
    commit_answer,
    consume_request,
    release_objects,
    signed_url,
    upload_request_body,
)
from ..multipart import StreamingForm, boundary_of
from ..replay import replayed

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
    openapi_extra=upload_request_body(
        "files", {"type": "array", "items": {"type": "string", "format": "binary"}}
    ),
)
async def upload_batch(
    request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> JSONResponse:
    settings = state.settings
    idempotency_key = check_key(request.headers.get("idempotency-key"))
    max_files = limits_for(auth.tenant.tier).max_batch_size or MAX_BATCH_FILES
    form = StreamingForm(
        boundary_of(request.headers.get("content-type")),
        begin_file=lambda: state.storage.begin(auth.tenant.id),
        file_fields=frozenset({"files"}),
        max_file_bytes=settings.max_upload_bytes,
        max_files=max_files,
        max_field_bytes=settings.max_field_bytes,
    )
    committed: list[str] = []
    try:
        async with upload_slot(state, auth):
            await consume_request(form, request, max_body_bytes=settings.max_batch_bytes)
            if not form.files:
                raise ValidationFailed(
                    "no files: send each one in a multipart field named 'files'",
                    details={"errors": [{"field": "files", "message": "required"}]},
                )
            options = parse_options(form.fields)
            request_print = ""
            if idempotency_key is not None:
                hashes = [f"{p.pending.sha256}:{p.too_large}" for p in form.files]
                request_print = fingerprint("files.upload.batch", form.fields, hashes)
                answer = await replay(session, auth.tenant.id, idempotency_key, request_print)
                if answer is not None:
                    return JSONResponse(answer[1], status_code=answer[0])
            await check_quota(session, auth.tenant, len(form.files))  # refused whole
            upload = UploadSession(tenant_id=auth.tenant.id, total_files=len(form.files))
            session.add(upload)
            await session.flush()
            results: list[dict[str, Any]] = []
            for part in form.files:
                try:
                    stored = await store_file(
                        session,
                        auth.tenant,
                        part,
                        options,
                        max_upload_bytes=settings.max_upload_bytes,
                        session_id=upload.id,
                    )
                except APIError as refusal:
                    await part.pending.abort()
                    upload.rejected_files += 1
                    results.append(
                        {"filename": safe_filename(part.filename), "error": refusal_of(refusal)}
                    )
                    continue
                if stored.skipped:
                    upload.skipped_files += 1
                else:
                    upload.accepted_files += 1
                    committed.append(stored.file.object_key)
                results.append(
                    file_service.upload_record(
                        stored.file, skipped=stored.skipped, filename=stored.filename
                    )
                )
            await record_uploads(session, auth.tenant.id, upload.accepted_files)
            accepted = upload.accepted_files + upload.skipped_files
            still_working = any(r.get("status") == "processing" for r in results)
            status = (
                "rejected"
                if accepted == 0
                else "partial"
                if upload.rejected_files
                else "processing"
                if still_working
                else "completed"
            )
            upload.status = "failed" if accepted == 0 else "processing"
            body = BatchUploadResult.model_validate(
                {
                    "session_id": upload.id,
                    "total_files": upload.total_files,
                    "accepted_files": accepted,
                    "rejected_files": upload.rejected_files,
                    "status": status,
                    "results": results,
                    "status_url": f"/api/v2/uploads/sessions/{upload.id}",
                }
            ).model_dump(mode="json")
            answer = await commit_answer(
                session, state, auth, idempotency_key, request_print, 201, body, committed
            )
            return JSONResponse(answer[1], status_code=answer[0])
    except BaseException:
        await session.rollback()
        await release_objects(state, session, committed)
        raise
    finally:
        await form.aclose()


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
    items = [
        file_service.details(row, original_url=signed_url(request, state, row, download=False))
        for row in rows
    ]
    return {
        "items": items,
        "total_count": total,
        "has_more": offset + len(rows) < total,
        "limit": limit,
        "offset": offset,
    }


@router.post(
    "/uploads/sessions/{session_id}/cancel",
    response_model=SessionProgress,
    summary="Cancel what a batch has not started yet",
)
async def cancel_session(
    session_id: str, request: Request, auth: AuthDep, session: SessionDep
) -> Any:
    replay = await replayed(request, session, auth, "sessions.cancel", {"id": session_id})
    if replay.answer is not None:
        return replay.answer
    upload = await session_service.get_session(session, auth.tenant.id, session_id)
    await session_service.cancel(session, upload)
    await session.flush()
    body = SessionProgress.model_validate(
        await session_service.progress(session, upload)
    ).model_dump(mode="json")
    await replay.remember(session, auth, 200, body)
    await session.commit()
    return body
