"""Plumbing shared by the upload routes: receiving the body, committing, cleaning up."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from ..db.models import File
from ..errors import BadRequest, UnsupportedMediaType, ValidationFailed
from ..jobs.steps.variants import CONTENT_TYPE as VARIANT_CONTENT_TYPE
from ..jobs.steps.variants import THUMBNAIL
from ..schemas import CONTENT_CATEGORIES
from ..services import idempotency
from ..services.ingest import Recording, Replay, RequestPrint
from ..services.uploads import (
    FORM_BOOLEANS,
    UUID_TEXT,
    FilePart,
    Stored,
    UploadOptions,
    parse_options,
)
from .deps import AppState, Auth, upload_slot
from .links import public_base
from .multipart import StreamingForm, boundary_of
from .remote import JsonUpload

__all__ = [
    "Upload",
    "form_boolean",
    "form_choice",
    "file_urls",
    "receive_upload",
    "signed_url",
    "upload_request_body",
]

# What may surround a form value (the server strips it: services.uploads), and an empty form
# field is a field not given.
_AROUND = r"[ \t\r\n]*"
_UUID_OR_EMPTY: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^{_AROUND}({UUID_TEXT.pattern})?{_AROUND}$",
    "description": "a UUID; empty: not given",
}


def form_choice(values: Iterable[str], default: str) -> dict[str, Any]:
    """A multipart field that takes one of ``values``, as the server reads it: spaces around
    are ignored, and an empty field is a field not given (HTML forms send empty fields)."""
    choices = list(values)
    alternatives = "|".join(re.escape(value) for value in choices)
    return {
        "type": "string",
        "pattern": rf"^{_AROUND}({alternatives})?{_AROUND}$",
        "default": default,
        "description": f"one of {', '.join(choices)}; empty: {default}",
    }


def form_boolean(default: bool) -> dict[str, Any]:
    """A multipart boolean: a string on the wire, one of these (HTML forms send ``on``)."""
    return form_choice(FORM_BOOLEANS, str(default).lower())


# The form fields shared by the upload routes (API.md §3), for the OpenAPI document.
_UPLOAD_OPTIONS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 255},
    "tags": {"type": "string", "description": "comma-separated, at most 40 tags of 50 chars"},
    "auto_describe": form_boolean(True),
    "skip_duplicates": form_boolean(False),
    "storage_target": form_choice(("default", "custom"), "default"),
    "folder_id": _UUID_OR_EMPTY,
    "project_id": _UUID_OR_EMPTY,
    "content_category": form_choice(CONTENT_CATEGORIES, "general"),
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
    records it (``services.ingest``)."""

    form: StreamingForm | JsonUpload
    options: UploadOptions
    recording: Recording | None  # None: the request was made before (``replayed``)
    replayed: JSONResponse | None  # the stored answer when this request was already made

    def _recording(self) -> Recording:
        if self.recording is None:
            raise RuntimeError("a replayed request records nothing")
        return self.recording

    async def store(
        self,
        session: AsyncSession,
        part: FilePart,
        *,
        max_upload_bytes: int,
        session_id: str | None = None,
    ) -> Stored:
        """Check and record one received file (``APIError``: refused)."""
        return await self._recording().store(
            session, part, max_upload_bytes=max_upload_bytes, session_id=session_id
        )

    async def queue(
        self, session: AsyncSession, row: File, kind: str, *, priority: int = 0
    ) -> None:
        """Queue another job of a file this request touches, in its transaction."""
        await self._recording().queue(session, row, kind, priority=priority)

    async def commit(
        self, session: AsyncSession, status_code: int, body: dict[str, Any], *, priority: int = 0
    ) -> JSONResponse:
        """Record the stored files with this answer (``services.ingest``), and answer."""
        await self._recording().commit(session, answer=(status_code, body), priority=priority)
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

    Holds one of the key's upload slots throughout. The files' object keys are claimed before
    the route may commit them (``services.objects``); with ``skip_duplicates`` they are also
    locked in the route's transaction, so that concurrent uploads of the same new bytes store
    one row. Whatever the route raises, the transaction is rolled back, objects that nothing
    uses any more are deleted and uncommitted ones discarded.
    """
    settings = state.settings
    idempotency_key = idempotency.check_key(request.headers.get("idempotency-key"))
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
            asked = None
            if idempotency_key is not None:
                hashes = [f"{p.pending.sha256}:{p.too_large}" for p in form.files]
                asked = RequestPrint(idempotency_key, route, form.fields, hashes)
            begun = await state.ingest.begin(
                session,
                auth.tenant,
                options,
                keys=(p.pending.key for p in form.files if not p.too_large),
                idempotent=asked,
            )
            if isinstance(begun, Replay):
                replayed = JSONResponse(begun.body, status_code=begun.status_code)
                upload = Upload(form, options, None, replayed)
            else:
                upload = Upload(form, options, begun, None)
            yield upload
    except BaseException:
        with anyio.CancelScope(shield=True):
            await session.rollback()  # (SQLite: its write lock goes before the claims do)
            if upload is not None and upload.recording is not None:
                await upload.recording.let_go()
        state.metrics.uploads.labels("refused").inc()
        raise
    else:
        if upload is not None and upload.recording is not None:
            if not upload.recording.committed:  # (nothing to record)
                await session.rollback()
            await upload.recording.let_go()
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
        file_id=row.id,  # (the link dies with the file, not only when it expires)
    )
    return f"{public_base(request, state.settings)}/api/v2/storage/objects/{token}"


def file_urls(request: Request, state: AppState, row: File) -> dict[str, str | None]:
    """The URL fields of a file's details (variants appear once the pipeline made them)."""
    return {
        "thumbnail_url": signed_url(request, state, row, download=False, variant=THUMBNAIL),
        "medium_url": signed_url(request, state, row, download=False, variant="medium_750"),
        "full_url": signed_url(request, state, row, download=False, variant="large_1024"),
        "original_url": signed_url(request, state, row, download=False),
    }
