"""``/files/direct-uploads``: large files sent in one PUT or in parts, then checked (API.md §3)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from ...db.models import DirectUpload, File, new_id, utcnow
from ...errors import (
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    QuotaExceeded,
    ValidationFailed,
)
from ...ids import canonical_id
from ...schemas import UploadRecord
from ...services import direct
from ...services import files as file_service
from ...services.ingest import Recording
from ...services.quota import check_quota
from ...services.uploads import FilePart, UploadOptions, options_from, safe_filename
from ...storage.staging import LocalStaging, Staging, WrongPartSize
from ..deps import AppState, Auth, AuthDep, SessionDep, StateDep
from ..links import public_base
from ..openapi import errors
from ..replay import idempotent

__all__ = ["router"]

router = APIRouter(tags=["direct uploads"])

MAX_PARTS = 10_000
# A ``complete`` that holds its upload this long without finishing has died with its server:
# another may take over. (Reading back is faster than 10 GB a minute; files go up to 5 TB.)
STALE_COMPLETING_MIN = timedelta(minutes=30)
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class DirectUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # (no 0/1 for booleans, no "5" for 5)

    filename: str = Field(..., min_length=1, max_length=255)
    size_bytes: int = Field(..., ge=1, le=5 * 1024**4)
    content_type: str | None = Field(None, max_length=255)
    content_hash: str | None = Field(
        None,
        description="sha256:<64 hex>, checked at complete",
        json_schema_extra={"pattern": _HASH.pattern},
    )
    title: str | None = None
    tags: list[str] | None = None
    auto_describe: bool = True
    skip_duplicates: bool = False
    folder_id: str | None = None
    content_category: str = "general"
    storage_target: str = "default"
    part_size: int | None = Field(
        None,
        ge=5 * 1024**2,
        le=5 * 1024**3,
        description="Ask for parts of this size (5 MiB to 5 GiB; raised if it would make "
        "more than 10,000 parts). Sizes above it are sent in parts.",
    )


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_number: int = Field(..., ge=1, le=MAX_PARTS)
    etag: str = Field(..., max_length=100)


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] | None = None
    content_hash: str | None = Field(
        None,
        description="sha256:<64 hex> of the whole file, when the client learnt it while sending "
        "(checked like the one given at the start)",
        json_schema_extra={"pattern": _HASH.pattern},
    )


def _options(body: DirectUploadRequest) -> UploadOptions:
    """The request's options, checked by the upload form's rules."""
    return options_from(
        title=body.title,
        tags=body.tags,
        auto_describe=body.auto_describe,
        skip_duplicates=body.skip_duplicates,
        storage_target=body.storage_target,
        folder_id=body.folder_id,
        content_category=body.content_category,
    )


def _part_url(request: Request, state: AppState, upload: DirectUpload, number: int) -> str:
    base = public_base(request, state.settings)
    staging = direct.staging_of(state.storage)
    return staging.url(direct.staged(upload), number, base=base, signer=state.signer)


def _check_hash(value: str | None) -> None:
    if value is not None and not _HASH.match(value):
        raise ValidationFailed(
            "content_hash must be 'sha256:' and 64 lowercase hex digits",
            details={"errors": [{"field": "content_hash", "message": "sha256:<64 hex>"}]},
        )


async def _owned(session: AsyncSession, auth: Auth, upload_id: str) -> DirectUpload:
    upload = await session.scalar(
        select(DirectUpload).where(
            DirectUpload.id == (canonical_id(upload_id) or upload_id),
            DirectUpload.tenant_id == auth.tenant.id,
        )
    )
    if upload is None:
        raise NotFound(
            f"direct upload {upload_id} not found",
            details={"resource_type": "direct_upload", "resource_id": upload_id},
        )
    return upload


async def _expire_if_due(session: AsyncSession, state: AppState, upload: DirectUpload) -> None:
    if upload.state == "pending" and upload.expires_at < utcnow():
        upload.state = "expired"
        await direct.staging_of(state.storage).discard(direct.staged(upload))
        await session.commit()


def _status(upload: DirectUpload, received: dict[int, tuple[str, int]]) -> dict[str, Any]:
    return {
        "upload_id": upload.id,
        "image_id": upload.file_id,
        "state": upload.state,
        "method": upload.method,
        "size_bytes": upload.size_bytes,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "received_parts": sorted(received),
        "expires_at": upload.expires_at,
        "error": upload.error,
    }


@router.post(
    "/files/direct-uploads",
    status_code=201,
    summary="Start a direct upload",
    responses=errors(400, 409, 413, 415),
)
async def start(
    body: DirectUploadRequest,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
) -> JSONResponse:
    settings = state.settings
    staging = direct.staging_of(state.storage)  # refuses storage that cannot take them
    options = _options(body)
    _check_hash(body.content_hash)
    asked = body.model_dump(mode="json")
    async with idempotent(request, session, state, auth, "direct.start", asked) as replay:
        if replay.answer is not None:  # a retried start: the same upload, not a second one
            return replay.answer
        await check_quota(session, auth.tenant, 1)
        if options.skip_duplicates and body.content_hash:
            existing = await session.scalar(
                select(File)
                .where(
                    File.tenant_id == auth.tenant.id,
                    File.content_hash == body.content_hash,
                    File.deleted_at.is_(None),
                )
                .order_by(File.created_at)
                .limit(1)
            )
            if existing is not None:  # nothing to send: the tenant has these bytes
                known = {
                    "upload_id": None,
                    "image_id": existing.id,
                    "object_key": existing.object_key,
                    "expires_at": None,
                    "deduplicated": True,
                    "method": "single",
                }
                await replay.remember(session, 201, known)
                await session.commit()
                return JSONResponse(known, status_code=201)
        multipart = body.size_bytes >= settings.direct_upload_multipart_bytes
        wanted = body.part_size or settings.direct_upload_part_bytes
        multipart = multipart or (body.part_size is not None and body.size_bytes > body.part_size)
        part_size = wanted if multipart else body.size_bytes
        part_count = math.ceil(body.size_bytes / part_size)
        if part_count > MAX_PARTS:
            part_size = math.ceil(body.size_bytes / MAX_PARTS)
            part_count = math.ceil(body.size_bytes / part_size)
        upload = DirectUpload(
            id=new_id(),  # (known before the flush: the staging key is named after it)
            tenant_id=auth.tenant.id,
            file_id=new_id(),
            filename=safe_filename(body.filename),
            size_bytes=body.size_bytes,
            content_hash=body.content_hash,
            options=options.to_json(),
            method="multipart" if multipart else "single",
            part_size=part_size,
            part_count=part_count,
            expires_at=utcnow() + timedelta(seconds=settings.direct_upload_ttl_seconds),
        )
        upload.storage_upload_id = await staging.begin(direct.staged(upload))
        session.add(upload)
        await session.flush()
        answer: dict[str, Any] = {
            "upload_id": upload.id,
            "image_id": upload.file_id,
            "object_key": None,  # content-addressed: known once the bytes are checked
            "expires_at": _iso(upload.expires_at),
            "deduplicated": False,
            "method": upload.method,
        }
        if multipart:
            answer["part_size"] = part_size
            answer["parts"] = [
                {"part_number": n, "upload_url": _part_url(request, state, upload, n)}
                for n in range(1, part_count + 1)
            ]
        else:
            answer["upload_url"] = _part_url(request, state, upload, 1)
            answer["upload_headers"] = {}
        await replay.remember(session, 201, answer)
        await session.commit()
        return JSONResponse(answer, status_code=201)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@router.put(
    "/storage/uploads/{token}",
    summary="Receive one part of a direct upload",
    responses=errors(400, 403, 404, 409, 413, 503),
)
async def receive_part(token: str, request: Request, session: SessionDep, state: StateDep) -> Any:
    granted = state.signer.verify(token)
    prefix = "upload:"
    if granted is None or not granted.key.startswith(prefix):
        raise Forbidden("this upload URL is invalid or has expired; start the upload again")
    _, upload_id, number_text = granted.key.split(":")
    upload = await session.get(DirectUpload, upload_id)
    staging = direct.staging_of(state.storage)
    if upload is None or not isinstance(staging, LocalStaging):
        raise Forbidden("this upload URL belongs to no upload")
    await _expire_if_due(session, state, upload)
    if upload.state != "pending":
        raise Conflict(f"direct upload {upload_id} is {upload.state}; it takes no more parts")
    number = int(number_text)
    staged = direct.staged(upload)
    # the body may take long (or stall until it is cut off): no database connection waits on it
    await session.commit()
    try:
        etag = await staging.store_part(staged, number, request.stream())
    except ClientDisconnect:  # (the part is discarded; the client sends it again)
        raise BadRequest(f"the client disconnected before part {number} was whole") from None
    except WrongPartSize as wrong:
        raise direct.part_refusal(wrong) from None
    except FileNotFoundError:  # (its staging folder went while the part was arriving)
        raise Conflict(
            f"direct upload {upload_id} ended (completed, aborted or expired) while part "
            f"{number} was being sent; it takes no more parts"
        ) from None
    return JSONResponse({"part_number": number, "etag": etag}, headers={"ETag": f'"{etag}"'})


@router.get("/files/direct-uploads/{upload_id}", summary="A direct upload's state and parts")
async def status(
    upload_id: str, request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> Any:
    """The state and received parts; while pending, fresh URLs for the parts still missing
    (``upload_url`` for a single PUT, ``parts`` otherwise), so a client can resume."""
    upload = await _owned(session, auth, upload_id)
    await _expire_if_due(session, state, upload)
    pending = upload.state == "pending"
    staging = direct.staging_of(state.storage)
    received = await staging.received(direct.staged(upload)) if pending else {}
    answer = _status(upload, received)
    if pending:
        missing = [n for n in range(1, upload.part_count + 1) if n not in received]
        if upload.method == "single":
            answer["upload_url"] = _part_url(request, state, upload, 1) if missing else None
            answer["upload_headers"] = {}
        else:
            answer["parts"] = [
                {"part_number": n, "upload_url": _part_url(request, state, upload, n)}
                for n in missing
            ]
    return JSONResponse(_json(answer))


def _json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in values.items()}


@router.delete(
    "/files/direct-uploads/{upload_id}", summary="Abort a direct upload", responses=errors(409)
)
async def abort(upload_id: str, auth: AuthDep, session: SessionDep, state: StateDep) -> Any:
    upload = await _owned(session, auth, upload_id)
    if upload.state in ("completed", "completing"):
        raise Conflict(
            f"direct upload {upload_id} is {upload.state}; delete the file once it is recorded"
        )
    upload.state = "aborted" if upload.state == "pending" else upload.state
    await direct.staging_of(state.storage).discard(direct.staged(upload))
    await session.commit()
    return JSONResponse(_json(_status(upload, {})))


async def _fail(session: AsyncSession, staging: Staging, upload_id: str, problem: str) -> None:
    """End the upload as failed, keep the reason, remove what was staged."""
    await session.rollback()  # (it expires every loaded row: read the upload again)
    upload = await session.get(DirectUpload, upload_id, populate_existing=True)
    if upload is None:
        return
    if upload.state in ("pending", "completing"):
        upload.state, upload.error = "failed", problem
        await session.commit()
    await staging.discard(direct.staged(upload))


class _NotReady(BadRequest):
    """The parts are not all there (or not the ones the client sent): nothing was judged."""


def _stale_after(upload: DirectUpload) -> timedelta:
    return max(STALE_COMPLETING_MIN, timedelta(seconds=upload.size_bytes / (10 * 1024**3 / 60)))


async def _claim(session: AsyncSession, upload: DirectUpload) -> None:
    """Hold the upload for this ``complete`` (``completing``): one request at a time reads and
    records it; a second gets 409 with ``Retry-After`` and, asked again, the same answer."""
    busy = Conflict(
        f"direct upload {upload.id} is being completed by another request; ask again in a "
        "moment for its answer",
        details={"upload_id": upload.id, "state": "completing"},
        headers={"Retry-After": "5"},
    )
    if upload.state == "completing" and utcnow() - upload.updated_at < _stale_after(upload):
        raise busy
    claimed = await session.execute(
        update(DirectUpload)
        .where(
            DirectUpload.id == upload.id,
            DirectUpload.state == upload.state,
            DirectUpload.updated_at == upload.updated_at,
        )
        .values(state="completing", updated_at=utcnow())
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise busy
    await session.commit()
    await session.refresh(upload)


async def _release(session: AsyncSession, upload_id: str) -> None:
    """Back to ``pending`` after a failure that is not the bytes' fault (they stay for a retry)."""
    with anyio.CancelScope(shield=True):
        await session.rollback()
        await session.execute(
            update(DirectUpload)
            .where(DirectUpload.id == upload_id, DirectUpload.state == "completing")
            .values(state="pending", updated_at=utcnow())
        )
        await session.commit()


@router.post(
    "/files/direct-uploads/{upload_id}/complete",
    summary="Check the bytes and record the file",
    responses=errors(400, 409, 413, 415, 503),
)
async def complete(
    upload_id: str,
    body: CompleteRequest,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
) -> JSONResponse:
    _check_hash(body.content_hash)
    upload = await _owned(session, auth, upload_id)
    staging = direct.staging_of(state.storage)
    await _expire_if_due(session, state, upload)
    if upload.state == "completed":  # a repeated complete: the same answer
        row = await file_service.get_file(session, auth.tenant.id, upload.file_id)
        return _record(row, upload, deduplicated=row.created_at < upload.created_at)
    if upload.state not in ("pending", "completing"):
        raise Conflict(f"direct upload {upload_id} is {upload.state}" + (
            f": {upload.error}" if upload.error else ""))  # fmt: skip
    await _claim(session, upload)
    try:
        return await _complete(upload, body, auth, session, state, staging)
    except (_NotReady, QuotaExceeded):  # pending again, parts kept: complete once fixed
        await _release(session, upload_id)
        raise
    except APIError:
        raise  # (the bytes were refused: the upload failed for good)
    except BaseException:  # not the bytes' fault: the staged parts stay for another try
        await _release(session, upload_id)
        raise


async def _complete(
    upload: DirectUpload,
    body: CompleteRequest,
    auth: Auth,
    session: AsyncSession,
    state: AppState,
    staging: Staging,
) -> JSONResponse:
    upload_id = upload.id
    received = await staging.received(direct.staged(upload))
    missing = [n for n in range(1, upload.part_count + 1) if n not in received]
    if missing:
        raise _NotReady(
            f"{len(missing)} of {upload.part_count} parts have not arrived "
            f"(first missing: {missing[0]}); send them, then complete again",
            details={"missing_parts": missing[:100]},
        )
    for part in body.parts or []:
        known = received.get(part.part_number, ("", 0))[0]
        if known and known != part.etag.strip('"'):  # ("": joined already, not known alone)
            raise _NotReady(
                f"part {part.part_number}: the ETag {part.etag!r} is not the one the storage "
                "gave for it (was the part sent again?)",
                details={"part_number": part.part_number},
            )
    options = UploadOptions.from_json(upload.options)
    announced = [h for h in (upload.content_hash, body.content_hash) if h]
    target: FilePart | None = None
    recording: Recording | None = None
    try:
        problem = None
        try:
            await staging.assemble(direct.staged(upload), received)
        except ValueError as refused:
            problem = str(refused)
        if problem is None:
            target = await direct.read_part(staging, upload, auth.tenant.id, state.storage)
            actual = f"sha256:{target.pending.sha256}"
            if target.size != upload.size_bytes:
                problem = f"{target.size} bytes arrived; {upload.size_bytes} were announced"
            elif any(h != actual for h in announced):
                wrong = next(h for h in announced if h != actual)
                problem = f"the bytes hash to {actual}, not the announced {wrong}"
        if problem:
            raise ValidationFailed(
                f"direct upload {upload_id} failed: {problem}; nothing was kept",
                details={"upload_id": upload_id},
            )
        assert target is not None
        # A shared (content-addressed) object is claimed before it is committed: nothing may
        # delete it under this request (``services.objects``).
        begun = await state.ingest.begin(
            session,
            auth.tenant,
            options,
            keys=[target.pending.key] if target.pending.shared else [],
        )
        assert isinstance(begun, Recording)  # (no Idempotency-Key here: never a replay)
        recording = begun
        stored = await recording.store(
            session, target, max_upload_bytes=upload.size_bytes, file_id=upload.file_id
        )
        upload.state = "completed"
        if stored.skipped:
            upload.file_id = stored.file.id
        await recording.commit(session)
    except QuotaExceeded:  # not the bytes' fault: the upload stays, to be completed later
        await _drop(session, target, recording)
        raise
    except APIError as refusal:  # the bytes are not acceptable: the upload is over
        await _drop(session, target, recording)
        await _fail(session, staging, upload_id, problem or refusal.message)
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _drop(session, target, recording)
        raise
    await staging.discard(direct.staged(upload), kept=not stored.skipped)
    return _record(stored.file, upload, deduplicated=stored.skipped)


async def _drop(
    session: AsyncSession, target: FilePart | None, recording: Recording | None
) -> None:
    """After a failed complete: nothing recorded, the object gone unless something uses it."""
    await session.rollback()
    if target is not None:
        await target.pending.abort()
    if recording is not None:
        await recording.let_go()


def _record(row: File, upload: DirectUpload, *, deduplicated: bool) -> JSONResponse:
    record = UploadRecord.model_validate(
        file_service.upload_record(row, filename=upload.filename)
    ).model_dump(mode="json")
    return JSONResponse({**record, "deduplicated": deduplicated, "upload_id": upload.id})
