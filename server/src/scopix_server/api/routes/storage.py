"""Signed, expiring object URLs: the bytes without an API key, as long as the token holds."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ...errors import NotFound
from ..deps import StateDep
from ..openapi import binary

__all__ = ["router"]

router = APIRouter(tags=["storage"])


@router.get(
    "/storage/objects/{token}",
    summary="Read an object through a signed URL",
    response_class=StreamingResponse,
    responses=binary("The object's bytes, with their own Content-Type"),
)
async def signed_object(token: str, state: StateDep) -> StreamingResponse:
    granted = state.signer.verify(token)
    if granted is None or not await state.storage.exists(granted.key):
        raise NotFound("this link is invalid or has expired; ask the API for a new one")
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    if granted.filename:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(granted.filename)}"
    return StreamingResponse(
        state.storage.read(granted.key), media_type=granted.content_type, headers=headers
    )
