"""Plumbing shared by the upload routes: reading the body, committing, cleaning up."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from ..db.models import File
from ..errors import BadRequest
from ..schemas import CONTENT_CATEGORIES
from ..services.idempotency import remember, replay
from .deps import AppState, Auth
from .multipart import StreamingForm

__all__ = [
    "commit_answer",
    "consume_request",
    "release_objects",
    "signed_url",
    "upload_request_body",
]

# The form fields shared by the upload routes (API.md §3), for the OpenAPI document.
_UPLOAD_OPTIONS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 255},
    "tags": {"type": "string", "description": "comma-separated, at most 40 tags of 50 chars"},
    "auto_describe": {"type": "boolean", "default": True},
    "skip_duplicates": {"type": "boolean", "default": False},
    "storage_target": {"type": "string", "enum": ["default", "custom"]},
    "folder_id": {"type": "string", "format": "uuid"},
    "project_id": {"type": "string", "format": "uuid"},
    "content_category": {"type": "string", "enum": list(CONTENT_CATEGORIES)},
    "custom_schema_id": {"type": "string", "format": "uuid"},
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


async def consume_request(form: StreamingForm, request: Request, *, max_body_bytes: int) -> None:
    try:
        await form.consume(request.stream(), max_body_bytes=max_body_bytes)
    except ClientDisconnect:
        raise BadRequest("the client disconnected before the upload finished") from None


async def commit_answer(
    session: AsyncSession,
    state: AppState,
    auth: Auth,
    idempotency_key: str | None,
    request_print: str,
    status_code: int,
    body: dict[str, Any],
    committed: list[str],
) -> tuple[int, dict[str, Any]]:
    """Commit the upload (and its idempotency record); the answer to send.

    If another request with the same ``Idempotency-Key`` committed first, this one's objects are
    released and that request's answer is returned instead.
    """
    if idempotency_key is not None:
        await remember(session, auth.tenant.id, idempotency_key, request_print, status_code, body)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await release_objects(state, session, committed)
        committed.clear()
        answer = (
            await replay(session, auth.tenant.id, idempotency_key, request_print)
            if idempotency_key is not None
            else None
        )
        if answer is None:
            raise
        return answer
    committed.clear()
    return status_code, body


def signed_url(request: Request, state: AppState, row: File, *, download: bool) -> str:
    token = state.signer.token_for(
        row.object_key,
        row.filename if download else "",
        row.content_type,
        state.settings.signed_url_ttl_seconds,
    )
    base = state.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/api/v2/storage/objects/{token}"
