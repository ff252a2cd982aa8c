"""``/uploads``: quota check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...schemas import QuotaCheck
from ...services.quota import quota_info
from ..deps import AuthDep, SessionDep

__all__ = ["router"]

router = APIRouter(tags=["uploads"])


@router.get("/uploads/quota-check", response_model=QuotaCheck, summary="Can N uploads proceed?")
async def quota_check(
    auth: AuthDep,
    session: SessionDep,
    file_count: Annotated[int, Query(ge=1, le=1_000_000)],
) -> dict[str, Any]:
    return await quota_info(session, auth.tenant, file_count)
