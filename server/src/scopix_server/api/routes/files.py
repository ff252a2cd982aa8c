"""``/files``: streaming upload, list, details, status, change, delete, download, variants."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from pydantic import WithJsonSchema
from sqlalchemy import select, update

from ...db.models import Chunk, File, utcnow
from ...errors import BadRequest, NotFound, ServiceUnavailable, ValidationFailed
from ...ids import UUID_PATTERN, canonical_id
from ...jobs.steps.variants import THUMBNAIL
from ...schemas import (
    BatchDeleteRequest,
    BatchDeleteResult,
    ChunkList,
    DeletedFile,
    FileDetails,
    FileList,
    FileStatus,
    FileUpdate,
    FileUpdated,
    UploadRecord,
    UtcDateTime,
    page,
)
from ...services import files as file_service
from ...services.uploads import parse_tags, visible_text
from ..deps import AuthDep, SessionDep, StateDep
from ..ingest import (
    file_urls,
    receive_upload,
    signed_url,
    upload_request_body,
)
from ..openapi import binary, errors
from ..ranges import stored_bytes
from ..replay import idempotent
from ..streaming import ClosingStreamingResponse

__all__ = ["router"]

logger = logging.getLogger("scopix_server")

router = APIRouter(tags=["files"])

MiB = 1024 * 1024


@router.post(
    "/files/upload",
    status_code=201,
    response_model=UploadRecord,
    summary="Upload one file (multipart/form-data, streamed to storage)",
    responses=errors(400, 409, 413, 415, 503),
    openapi_extra=upload_request_body("file", {"type": "string", "format": "binary"}),
)
async def upload_file(
    request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> JSONResponse:
    max_bytes = state.settings.max_upload_bytes
    async with receive_upload(
        request,
        session,
        state,
        auth,
        route="files.upload",
        file_field="file",
        max_files=1,
        max_body_bytes=2 * max_bytes + MiB,  # room to drain an over-size file and say 413
    ) as upload:
        if upload.replayed is not None:
            return upload.replayed
        stored = await upload.store(session, upload.form.files[0], max_upload_bytes=max_bytes)
        body = UploadRecord.model_validate(
            file_service.upload_record(
                stored.file, skipped=stored.skipped, filename=stored.filename
            )
        ).model_dump(mode="json")
        return await upload.commit(session, 201, body)


# Bounds of the list filters: each value adds a term to the query, and SQLite refuses an
# expression deeper than 1000 terms (996 tags answered 500). A file has at most 40 user tags.
MAX_FILTER_TAGS = 50
MAX_FILTER_IDS = 500
MEDIA_TYPES = ("image", "document", "video", "link")
RANKED_MAX = 1_000  # files a ranked (hybrid, semantic) list reaches


def _csv(values: list[str] | None, field: str, limit: int) -> tuple[str, ...]:
    """Accept both repeated parameters (?tags=a&tags=b) and comma lists (?tags=a,b), each value
    once, at most ``limit`` of them (a clear 422 past it)."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    unique = tuple(dict.fromkeys(out))
    if len(unique) > limit:
        message = f"at most {limit} values per request, got {len(unique)}; split the request"
        raise ValidationFailed(
            f"{field}: {message}", details={"errors": [{"field": field, "message": message}]}
        )
    return unique


_IDS_PATTERN = f"^ *{UUID_PATTERN} *(, *{UUID_PATTERN} *)*$"
_MEDIA_TYPES_PATTERN = "^ *({0}) *(, *({0}) *)*$".format("|".join(MEDIA_TYPES))
FILE_STATUSES = ("processing", "completed", "failed")
_STATUSES_PATTERN = "^ *({0}) *(, *({0}) *)*$".format("|".join(FILE_STATUSES))


@router.get("/files", response_model=FileList, summary="List files with filters")
async def list_files(
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
    search: Annotated[str | None, Query(max_length=500)] = None,
    search_mode: Annotated[
        Literal["all", "metadata", "visible_text", "hybrid", "semantic"],
        Query(
            description="all, metadata, visible_text: every word must appear (in those fields), "
            "in the sort order asked for; hybrid (words and meaning fused) or semantic (meaning "
            f"only): ranked by relevance, best first, at most {RANKED_MAX} files"
        ),
    ] = "all",
    tags: Annotated[
        list[str] | None,
        Query(description=f"all must match; at most {MAX_FILTER_TAGS}", max_length=MAX_FILTER_TAGS),
    ] = None,
    media_types: Annotated[
        list[Annotated[str, WithJsonSchema({"type": "string", "pattern": _MEDIA_TYPES_PATTERN})]]
        | None,
        Query(description="image, document, video, link (repeated or comma-separated)"),
    ] = None,
    folder_id: uuid.UUID | None = None,
    date_from: Annotated[UtcDateTime | None, Query(description="ISO 8601; no offset: UTC")] = None,
    date_to: Annotated[UtcDateTime | None, Query(description="ISO 8601; no offset: UTC")] = None,
    has_description: bool | None = None,
    status: Annotated[
        list[Annotated[str, WithJsonSchema({"type": "string", "pattern": _STATUSES_PATTERN})]]
        | None,
        Query(
            description="processing (a step of its processing has not ended), failed (every "
            "step ended; the file or its description failed) or completed (every step ended, "
            "neither failed); comma-separated: any of them"
        ),
    ] = None,
    safe: Annotated[
        bool,
        Query(
            description="hide pictures whose safety_score is at or over the tenant's threshold "
            "(GET /tenant/settings), and pictures not scored yet"
        ),
    ] = False,
    ids: Annotated[
        list[Annotated[str, WithJsonSchema({"type": "string", "pattern": _IDS_PATTERN})]] | None,
        Query(description=f"file ids; at most {MAX_FILTER_IDS}", max_length=MAX_FILTER_IDS),
    ] = None,
    sort_by: Literal["created_at", "content_created_at", "title", "size_bytes"] = "created_at",
    sort_order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    id_list = _csv(ids, "ids", MAX_FILTER_IDS)
    stored_ids = tuple(canonical_id(i) for i in id_list)
    if None in stored_ids:
        raise ValidationFailed(f"ids: not a UUID: {id_list[stored_ids.index(None)][:40]!r}")
    id_list = tuple(i for i in stored_ids if i is not None)
    types = _csv(media_types, "media_types", len(MEDIA_TYPES))
    unknown = sorted(set(types) - set(MEDIA_TYPES))
    if unknown:
        raise ValidationFailed(f"media_types: unknown type {unknown[0]!r}")
    statuses = _csv(status, "status", len(FILE_STATUSES))
    strange = sorted(set(statuses) - set(FILE_STATUSES))
    if strange:
        raise ValidationFailed(
            f"status: unknown status {strange[0][:40]!r}; one of {', '.join(FILE_STATUSES)}"
        )
    query = file_service.ListQuery(
        search=search,
        search_mode=search_mode,
        # (as tags are stored: NFC, without invisible characters; a decomposed "café" matches)
        tags=tuple(
            t for t in (visible_text(x).strip() for x in _csv(tags, "tags", MAX_FILTER_TAGS)) if t
        ),
        media_types=types,
        folder_id=str(folder_id) if folder_id else None,
        date_from=date_from,
        date_to=date_to,
        has_description=has_description,
        statuses=statuses,
        ids=id_list,
        safe_below=auth.tenant.safety_threshold if safe else None,
        sort_by=sort_by,
        sort_order=sort_order,
        limit=limit,
        offset=offset,
    )
    if search and search_mode in ("hybrid", "semantic"):
        hits, found = await state.searcher.files(
            session,
            auth.tenant.id,
            search,
            where=file_service.list_filters(query),
            limit=min(offset + limit, RANKED_MAX),
            mode=search_mode,
        )
        # (total: the files ranked so far, which grows as later pages rank more of them)
        rows = [hit.file for hit in hits[offset : offset + limit]]
        total = min(max(found.ranked, len(hits)), RANKED_MAX)
    else:
        rows, total = await file_service.list_files(session, auth.tenant.id, query)
    items = [
        file_service.summary(
            row, thumbnail_url=signed_url(request, state, row, download=False, variant=THUMBNAIL)
        )
        for row in rows
    ]
    return page(items, total=total, limit=limit, offset=offset)


@router.get("/files/{file_id}", response_model=FileDetails, summary="File details")
async def get_file(
    file_id: str, request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    return file_service.details(row, urls=file_urls(request, state, row))


@router.get("/files/{file_id}/status", response_model=FileStatus, summary="Processing status")
async def file_status(file_id: str, auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    return file_service.processing_status(row)


@router.patch("/files/{file_id}", response_model=FileUpdated, summary="Change title or tags")
async def update_file(
    file_id: str, change: FileUpdate, auth: AuthDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    if change.title is None and change.tags is None:
        raise ValidationFailed("send at least one of title, tags")
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    tags = None
    if change.tags is not None:
        errors: list[dict[str, str]] = []
        tags = parse_tags(",".join(change.tags), errors)
        if errors or any("," in tag for tag in change.tags):
            message = errors[0]["message"] if errors else "a tag cannot contain a comma"
            raise ValidationFailed(f"tags: {message}", details={"errors": errors})
    title = None if change.title is None else visible_text(change.title).strip()
    await file_service.change(
        session, state.jobs, row, title=title, tags=tags, searched=state.searcher.enabled
    )
    return {"id": row.id, "title": row.title, "tags": list(row.tags), "updated_at": row.updated_at}


@router.delete("/files/{file_id}", response_model=DeletedFile, summary="Delete (soft)")
async def delete_file(file_id: str, auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    row.deleted_at = utcnow()
    await session.commit()
    return {"id": row.id, "deleted_at": row.deleted_at, "message": "File deleted successfully"}


@router.post(
    "/files/batch-delete",
    response_model=BatchDeleteResult,
    summary="Delete many",
    responses=errors(409),
)
async def batch_delete(
    request_body: BatchDeleteRequest,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
) -> Any:
    wanted = request_body.model_dump(mode="json")
    async with idempotent(request, session, state, auth, "files.batch_delete", wanted) as replay:
        if replay.answer is not None:
            return replay.answer
        deleted: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        now = utcnow()
        for sent in dict.fromkeys(request_body.file_ids):  # each id once, in order
            file_id = canonical_id(sent)
            if file_id is None:
                failed.append({"id": sent, "status": "failed", "message": "not a UUID"})
                continue
            # One conditional update per id: of two concurrent deletes, one deletes, the other
            # is told it was deleted already.
            gone = await session.execute(
                update(File)
                .where(
                    File.id == file_id,
                    File.tenant_id == auth.tenant.id,
                    File.deleted_at.is_(None),
                )
                .values(deleted_at=now, updated_at=now)
            )
            if getattr(gone, "rowcount", 0) == 1:
                deleted.append({"id": file_id, "status": "deleted", "deleted_at": now})
                continue
            found = await session.execute(
                select(File.deleted_at).where(File.id == file_id, File.tenant_id == auth.tenant.id)
            )
            row = found.first()
            if row is None:
                failed.append({"id": file_id, "status": "failed", "message": "not found"})
            else:
                skipped.append(
                    {"id": file_id, "status": "skipped", "deleted_at": row.deleted_at,
                     "message": "already deleted"}
                )  # fmt: skip
        summary = {"deleted": len(deleted), "skipped": len(skipped), "failed": len(failed)}
        body = BatchDeleteResult.model_validate(
            {
                "deleted": deleted,
                "skipped": skipped,
                "failed": failed,
                "summary": {"total": sum(summary.values()), **summary},
            }
        ).model_dump(mode="json")
        await replay.remember(session, 200, body)
        await session.commit()
        return body


def _content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.head("/files/{file_id}/download", include_in_schema=False)  # (size, Accept-Ranges)
@router.get(
    "/files/{file_id}/download",
    summary="Download the original bytes",
    response_class=StreamingResponse,
    responses={
        **binary("The stored bytes, with their own Content-Type", ranges=True),
        **errors(503),
    },
)
async def download(
    file_id: str, request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> StreamingResponse:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    if not await state.storage.exists(row.object_key):
        # checked before streaming: once the headers are out, a failure is only a cut connection
        logger.error("stored bytes missing for file %s (object %s)", row.id, row.object_key)
        raise ServiceUnavailable(
            f"the stored bytes of file {file_id} cannot be read right now; the operator has been "
            "told (server log)",
            details={"resource_type": "file", "resource_id": file_id},
        )
    return stored_bytes(
        request,
        state.storage,
        row.object_key,
        size=row.size_bytes,
        media_type=row.content_type,
        headers={
            "Content-Disposition": _content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/files/{file_id}/variants/{variant}",
    status_code=302,
    summary="Redirect to a variant (signed, expiring URL)",
    response_class=RedirectResponse,
    responses={302: {"description": "Location: the variant's signed, expiring URL"}},
)
async def variant(
    file_id: str,
    variant: Literal["original", "tiny_64", "small_256", "medium_750", "large_1024"],
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
) -> RedirectResponse:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    url = signed_url(request, state, row, download=False, variant=variant)
    if url is None:
        if row.variant_status in ("pending", "processing"):
            reason = "is not made yet: the file is still being processed (see /status)"
        elif row.variant_status == "failed":
            reason = "could not be made: processing this file failed (see /status)"
        else:
            reason = f"does not exist for {row.media_type} files"
        raise NotFound(
            f"variant {variant!r} of file {file_id} {reason}; 'original' is always available",
            details={"resource_type": "variant", "resource_id": variant},
        )
    return RedirectResponse(url, status_code=302)


def _document(row: File, what: str) -> None:
    if row.media_type != "document":
        raise BadRequest(
            f"{what} exists for documents only; file {row.id} is a {row.media_type}",
            details={"media_type": row.media_type},
        )
    if row.text_extraction_status != "completed":
        raise NotFound(
            f"the text of file {row.id} is not available: text extraction is "
            f"{row.text_extraction_status or 'pending'} (see /status)",
            details={"resource_type": "text", "resource_id": row.id},
        )


@router.get(
    "/files/{file_id}/text",
    summary="A document's full text",
    response_class=PlainTextResponse,
    responses=errors(400, 503),
)
async def document_text(
    file_id: str, auth: AuthDep, session: SessionDep, state: StateDep
) -> StreamingResponse:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    _document(row, "text")
    assert row.text_key is not None
    if not await state.storage.exists(row.text_key):
        raise ServiceUnavailable(f"the extracted text of file {file_id} cannot be read right now")
    return ClosingStreamingResponse(
        state.storage.read(row.text_key), media_type="text/plain; charset=utf-8"
    )


@router.get(
    "/files/{file_id}/chunks",
    response_model=ChunkList,
    summary="A document's chunks",
    responses=errors(400),
)
async def document_chunks(
    file_id: str,
    auth: AuthDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    _document(row, "chunks")
    chunks = list(
        await session.scalars(
            select(Chunk)
            .where(Chunk.file_id == row.id, Chunk.tenant_id == auth.tenant.id)
            .order_by(Chunk.index)
            .limit(limit)
            .offset(offset)
        )
    )
    items = [
        {"index": c.index, "text": c.text, "page_numbers": list(c.page_numbers)} for c in chunks
    ]
    return page(items, total=row.chunk_count or 0, limit=limit, offset=offset)


@router.post(
    "/files/{file_id}/describe",
    response_model=FileStatus,
    status_code=202,
    summary="Describe the file again",
    responses=errors(400, 409),
)
async def describe_again(
    file_id: str, request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> Any:
    async with idempotent(
        request, session, state, auth, "files.describe", {"file_id": file_id}
    ) as replay:
        if replay.answer is not None:
            return replay.answer
        row = await file_service.get_file(session, auth.tenant.id, file_id)
        if row.media_type not in ("image", "document"):
            raise BadRequest(f"{row.media_type} files are not described (yet)")
        await file_service.queue_description(session, state.jobs, row)
        body = FileStatus.model_validate(file_service.processing_status(row)).model_dump(
            mode="json"
        )
        await replay.remember(session, 202, body)
        await session.commit()
        state.jobs.notify()
        return JSONResponse(body, status_code=202)
