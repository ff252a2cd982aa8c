"""``/images/analyze``: upload one image and wait for its description (API.md §5)."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...db.models import File
from ...errors import UnsupportedMediaType, ValidationFailed
from ...schemas import CONTENT_CATEGORIES, FileDetails, UploadRecord
from ...services import files as file_service
from ..deps import AppState, Auth, AuthDep, SessionDep, StateDep
from ..ingest import file_urls, form_boolean, form_choice, receive_upload, upload_request_body
from ..openapi import errors

__all__ = ["router"]

router = APIRouter(tags=["images"])

MiB = 1024 * 1024
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 300.0

_OPTIONS: dict[str, Any] = {
    "content_category": {
        "type": "string",
        "enum": ["auto", *CONTENT_CATEGORIES],
        "default": "general",
    },
    "skip_duplicates": {"type": "boolean", "default": False},
    "timeout": {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_TIMEOUT,
        "default": DEFAULT_TIMEOUT,
        "description": "seconds to wait for the description",
    },
}


def _request_body() -> dict[str, Any]:
    multipart = upload_request_body("file", {"type": "string", "format": "binary"})
    form = multipart["requestBody"]["content"]["multipart/form-data"]["schema"]
    form["properties"].update(
        {
            **_OPTIONS,
            "content_category": form_choice(("auto", *CONTENT_CATEGORIES), "general"),
            "skip_duplicates": form_boolean(False),
        }
    )
    source = {
        "url": {"type": "string", "format": "uri", "description": "fetched by the server"},
        "base64": {"type": "string", "description": "the image, base64 (a data: URL is fine)"},
        "filename": {"type": "string"},
    }
    multipart["requestBody"]["content"]["application/json"] = {
        "schema": {
            "type": "object",
            "properties": {**source, **_OPTIONS, "title": {"type": "string", "maxLength": 255}},
            "oneOf": [{"required": ["url"]}, {"required": ["base64"]}],
        }
    }
    return multipart


def _timeout(fields: dict[str, list[str]]) -> float:
    raw = (fields.get("timeout") or [""])[-1].strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_TIMEOUT:  # (NaN fails this too)
        message = f"seconds from 0 to {MAX_TIMEOUT:g}, got {raw[:40]!r}"
        raise ValidationFailed(
            f"timeout: {message}", details={"errors": [{"field": "timeout", "message": message}]}
        )
    return value


async def _wait(state: AppState, auth: Auth, file_id: str, timeout: float) -> tuple[File, bool]:
    """The file once its processing is terminal, or as it is when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        async with state.sessions() as session:
            row = await file_service.get_file(session, auth.tenant.id, file_id)
        if file_service.processing_status(row)["is_terminal"]:
            return row, True
        left = deadline - time.monotonic()
        if left <= 0:
            return row, False
        await anyio.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)


@router.post(
    "/images/analyze",
    response_model=FileDetails,
    summary="Upload an image and wait for its description",
    description="Multipart `file`, or JSON `{url}` / `{base64}`. Answers 200 with the file's "
    "details once it is processed, or 202 with the details so far when `timeout` runs out "
    "(poll `/files/{id}/status`).",
    responses={
        202: {"model": FileDetails, "description": "still processing"},
        **errors(400, 409, 413, 415, 503),
    },
    openapi_extra=_request_body(),
)
async def analyze_image(
    request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> JSONResponse:
    max_bytes = state.settings.max_upload_bytes
    async with receive_upload(
        request,
        session,
        state,
        auth,
        route="images.analyze",
        file_field="file",
        max_files=1,
        max_body_bytes=2 * max_bytes + MiB,
        accept_json=True,
    ) as upload:
        timeout = _timeout(upload.form.fields)
        if upload.replayed is not None:  # a repeated request: the file of the first one
            file_id = str(json.loads(bytes(upload.replayed.body))["image_id"])
        else:
            part = upload.form.files[0]
            stored = await upload.store(session, part, max_upload_bytes=max_bytes)
            # (a refusal below rolls it back, and its object goes: receive_upload)
            if stored.file.media_type != "image":
                raise UnsupportedMediaType(
                    f"{stored.filename!r} is a {stored.file.media_type}; /images/analyze takes "
                    "images (upload documents and videos with /files/upload)",
                    details={"media_type": stored.file.media_type},
                )
            if stored.skipped and file_service.recategorise(
                stored.file, upload.options.content_category
            ):
                await upload.queue(session, stored.file, "describe", priority=1)
            record = UploadRecord.model_validate(
                file_service.upload_record(
                    stored.file, skipped=stored.skipped, filename=stored.filename
                )
            ).model_dump(mode="json")
            # a client is waiting: the job goes before the batch backlog
            await upload.commit(session, 201, record, priority=1)
            file_id = stored.file.id
    wait = min(timeout, state.settings.analyze_max_wait_seconds)
    row, finished = await _wait(state, auth, file_id, wait)
    body = FileDetails.model_validate(
        file_service.details(row, urls=file_urls(request, state, row))
    ).model_dump(mode="json")
    return JSONResponse(body, status_code=200 if finished else 202)
