"""Plumbing shared by the upload routes: receiving the body, committing, cleaning up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from ..db.models import File
from ..errors import BadRequest, UnsupportedMediaType, ValidationFailed
from ..jobs.steps.variants import CONTENT_TYPE as VARIANT_CONTENT_TYPE
from ..jobs.steps.variants import THUMBNAIL
from ..schemas import CONTENT_CATEGORIES
from ..services.idempotency import check_key, fingerprint, remember, replay
from ..services.uploads import Stored, UploadOptions, parse_options
from .deps import AppState, Auth, upload_slot
from .multipart import StreamingForm, boundary_of
from .remote import JsonUpload

__all__ = [
    "Upload",
    "file_urls",
    "receive_upload",
    "release_objects",
    "signed_url",
    "upload_request_body",
]

# (an empty form field is a field not given)
_UUID_OR_EMPTY: dict[str, Any] = {
    "type": "string",
    "anyOf": [{"format": "uuid"}, {"maxLength": 0}],
    "description": "a UUID; empty: not given",
}

# The form fields shared by the upload routes (API.md §3), for the OpenAPI document.
_UPLOAD_OPTIONS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 255},
    "tags": {"type": "string", "description": "comma-separated, at most 40 tags of 50 chars"},
    "auto_describe": {"type": "boolean", "default": True},
    "skip_duplicates": {"type": "boolean", "default": False},
    "storage_target": {"type": "string", "enum": ["default", "custom"]},
    "folder_id": _UUID_OR_EMPTY,
    "project_id": _UUID_OR_EMPTY,
    "content_category": {"type": "string", "enum": list(CONTENT_CATEGORIES)},
    "custom_schema_id": _UUID_OR_EMPTY,
}


def upload_request_body(file_field: str, file_schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` describing a multipart upload body (the route parses it by hand)."""
    schema = {
        "type": "object",
        "required": [file_field],
        "properties": {file_field: file_schema, **_UPLOAD_OPTIONS},
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


async def release_objects(state: AppState, session: AsyncSession, keys: list[str]) -> None:
    """Delete committed objects that no file row references (after a failed transaction).

    Objects are content-addressed per tenant, so if the same tenant uploads the same bytes twice
    at the same moment and one request fails between the other's object commit and its row
    insert, this can remove an object the other is about to reference (a narrow window that needs
    a database failure). Bytes left behind by crashes are the periodic orphan sweep's job
    (``services.retention.sweep_orphans``).
    """
    for key in keys:
        used = await session.scalar(select(func.count()).where(File.object_key == key))
        if not used:
            await state.storage.delete(key)


async def consume_request(
    form: StreamingForm | JsonUpload, request: Request, *, max_body_bytes: int
) -> None:
    try:
        await form.consume(request.stream(), max_body_bytes=max_body_bytes)
    except ClientDisconnect:
        raise BadRequest("the client disconnected before the upload finished") from None


@dataclass
class Upload:
    """One upload request (multipart, or JSON on analyze), received and checked, while a route
    records it."""

    form: StreamingForm | JsonUpload
    options: UploadOptions
    idempotency_key: str | None
    fingerprint: str
    replayed: JSONResponse | None  # the stored answer when this request was already made
    stored: list[Stored] = field(default_factory=list)

    @property
    def new_objects(self) -> list[str]:
        """Objects this request stored (released again if it fails)."""
        return [s.file.object_key for s in self.stored if not s.skipped]

    def keep(self, stored: Stored) -> None:
        self.stored.append(stored)

    async def commit(
        self,
        session: AsyncSession,
        state: AppState,
        auth: Auth,
        status_code: int,
        body: dict[str, Any],
        *,
        priority: int = 0,
    ) -> JSONResponse:
        """Commit what was recorded (with the idempotency record) and answer.

        The files' jobs get ``priority`` (higher: claimed before the backlog).

        If another request with the same ``Idempotency-Key`` committed first, this one's objects
        are released and that request's answer is returned instead.
        """
        if self.idempotency_key is not None:
            await remember(
                session, auth.tenant.id, self.idempotency_key, self.fingerprint, status_code, body
            )
        new_files = [s.file for s in self.stored if not s.skipped]
        for row in new_files:  # in this transaction: no file is ever committed without its job
            await state.jobs.enqueue(
                session,
                tenant_id=auth.tenant.id,
                file_id=row.id,
                kind="process",
                priority=priority,
            )
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            await release_objects(state, session, self.new_objects)
            answer = (
                await replay(session, auth.tenant.id, self.idempotency_key, self.fingerprint)
                if self.idempotency_key is not None
                else None
            )
            self.stored.clear()
            if answer is None:
                raise
            return JSONResponse(answer[1], status_code=answer[0])
        for stored in self.stored:
            state.metrics.uploads.labels("skipped" if stored.skipped else "stored").inc()
            if not stored.skipped:
                state.metrics.uploaded_bytes.inc(stored.file.size_bytes)
        self.stored.clear()  # committed: nothing to release any more
        if new_files:
            state.jobs.notify()
        return JSONResponse(body, status_code=status_code)


@asynccontextmanager
async def receive_upload(
    request: Request,
    session: AsyncSession,
    state: AppState,
    auth: Auth,
    *,
    route: str,
    file_field: str,
    max_files: int,
    max_body_bytes: int,
    accept_json: bool = False,
) -> AsyncIterator[Upload]:
    """Receive a multipart upload: stream it to storage, check its fields, look up a replay.

    With ``accept_json``, a JSON body ``{"url"|"base64", <options>}`` is taken as well.

    Holds one of the key's upload slots throughout. Whatever the route raises, the transaction is
    rolled back, objects it stored are released and uncommitted ones discarded.
    """
    settings = state.settings
    idempotency_key = check_key(request.headers.get("idempotency-key"))
    form: StreamingForm | JsonUpload
    content_type = request.headers.get("content-type", "")
    if accept_json and content_type.split(";")[0].strip().lower() == "application/json":
        form = JsonUpload(
            begin_file=lambda: state.storage.begin(auth.tenant.id),
            max_file_bytes=settings.max_upload_bytes,
            allow_private=settings.fetch_private_urls,
            fetch_timeout=settings.fetch_timeout_seconds,
        )
        max_body_bytes = settings.max_upload_bytes * 4 // 3 + settings.max_field_bytes
    else:
        if accept_json and not content_type.lower().startswith("multipart/form-data"):
            raise UnsupportedMediaType(
                f"Content-Type {content_type or 'missing'!r} is not accepted here: send "
                "multipart/form-data with the file in the 'file' field, or JSON "
                '{"url": ...} or {"base64": ...}',
                details={"expected": ["multipart/form-data", "application/json"]},
            )
        form = StreamingForm(
            boundary_of(content_type),
            begin_file=lambda: state.storage.begin(auth.tenant.id),
            file_fields=frozenset({file_field}),
            max_file_bytes=settings.max_upload_bytes,
            max_files=max_files,
            max_field_bytes=settings.max_field_bytes,
        )
    upload: Upload | None = None
    try:
        async with upload_slot(state, auth):
            await consume_request(form, request, max_body_bytes=max_body_bytes)
            if not form.files:
                raise ValidationFailed(
                    f"no file: send it in the multipart field '{file_field}'",
                    details={"errors": [{"field": file_field, "message": "required"}]},
                )
            options = parse_options(form.fields, auto_category=accept_json)
            request_print, replayed = "", None
            if idempotency_key is not None:
                hashes = [f"{p.pending.sha256}:{p.too_large}" for p in form.files]
                request_print = fingerprint(route, form.fields, hashes)
                answer = await replay(session, auth.tenant.id, idempotency_key, request_print)
                if answer is not None:
                    replayed = JSONResponse(answer[1], status_code=answer[0])
            upload = Upload(form, options, idempotency_key, request_print, replayed)
            yield upload
    except BaseException:
        await session.rollback()
        if upload is not None:
            await release_objects(state, session, upload.new_objects)
        state.metrics.uploads.labels("refused").inc()
        raise
    finally:
        await form.aclose()


def signed_url(
    request: Request, state: AppState, row: File, *, download: bool, variant: str = "original"
) -> str | None:
    """A signed, expiring URL of the original or of a variant (``None``: no such variant yet)."""
    key: str | None = row.object_key
    content_type = row.content_type
    if variant != "original":
        key, content_type = (row.variants or {}).get(variant), VARIANT_CONTENT_TYPE
    if key is None:
        return None
    direct = state.storage.presigned_url(
        key,
        filename=row.filename if download else "",
        content_type=content_type,
        ttl_seconds=state.settings.signed_url_ttl_seconds,
    )
    if direct is not None:  # (S3: the bytes go from the bucket to the client)
        return direct
    token = state.signer.token_for(
        key,
        row.filename if download else "",
        content_type,
        state.settings.signed_url_ttl_seconds,
    )
    base = state.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/api/v2/storage/objects/{token}"


def file_urls(request: Request, state: AppState, row: File) -> dict[str, str | None]:
    """The URL fields of a file's details (variants appear once the pipeline made them)."""
    return {
        "thumbnail_url": signed_url(request, state, row, download=False, variant=THUMBNAIL),
        "medium_url": signed_url(request, state, row, download=False, variant="medium_750"),
        "full_url": signed_url(request, state, row, download=False, variant="large_1024"),
        "original_url": signed_url(request, state, row, download=False),
    }
