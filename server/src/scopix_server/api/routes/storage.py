"""Signed, expiring object URLs: the bytes without an API key, as long as the token holds."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ...db.models import File
from ...errors import NotFound
from ..deps import SessionDep, StateDep
from ..openapi import binary
from ..ranges import stored_bytes
from ..streaming import ClosingStreamingResponse

__all__ = ["router"]


def _keys_of(row: File) -> set[str]:
    return {row.object_key, *(row.variants or {}).values()}


router = APIRouter(tags=["storage"])


@router.head("/storage/objects/{token}", include_in_schema=False)  # (size, Accept-Ranges)
@router.get(
    "/storage/objects/{token}",
    summary="Read an object through a signed URL",
    response_class=StreamingResponse,
    responses=binary("The object's bytes, with their own Content-Type", ranges=True),
)
async def signed_object(
    token: str, request: Request, state: StateDep, session: SessionDep
) -> StreamingResponse:
    granted = state.signer.verify(token)
    gone = NotFound("this link is invalid or has expired; ask the API for a new one")
    if granted is None or not granted.file_id:
        raise gone
    row = await session.get(File, granted.file_id)
    if row is None or row.deleted_at is not None or granted.key not in _keys_of(row):
        raise gone  # (deleted since the link was made: the link goes with the file)
    if not await state.storage.exists(granted.key):
        raise gone
    headers = {
        "Cache-Control": "private, max-age=300",
        "X-Content-Type-Options": "nosniff",
        # shown inline on the console's origin: whatever it is, it runs no script there
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; "
        "style-src 'unsafe-inline'",
    }
    if granted.filename:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(granted.filename)}"
    if granted.key == row.object_key:  # the original: its size is known, a range can be served
        return stored_bytes(
            request,
            state.storage,
            granted.key,
            size=row.size_bytes,
            media_type=granted.content_type,
            headers=headers,
        )
    return ClosingStreamingResponse(
        state.storage.read(granted.key), media_type=granted.content_type, headers=headers
    )
