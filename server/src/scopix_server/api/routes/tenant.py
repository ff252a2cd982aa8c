"""``/tenant``: who the key belongs to, its tier's limits and usage; ``/tenant/settings``: the
tenant's settings (any key reads them; an admin key sets them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...errors import Forbidden
from ...schemas import TenantOverview, TenantSettings
from ...services.quota import overview
from ..deps import AuthDep, SessionDep
from ..openapi import errors

__all__ = ["router"]

router = APIRouter(tags=["tenant"])


def _settings(threshold: float) -> dict[str, Any]:
    return {"safety_threshold": threshold}


@router.get(
    "/tenant", response_model=TenantOverview, summary="The key's tenant: tier, limits and usage"
)
async def read_overview(auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    return await overview(session, auth.tenant)


@router.get("/tenant/settings", response_model=TenantSettings, summary="The tenant's settings")
async def read(auth: AuthDep) -> dict[str, Any]:
    return _settings(auth.tenant.safety_threshold)


@router.patch(
    "/tenant/settings",
    response_model=TenantSettings,
    summary="Change the tenant's settings (admin keys only)",
    responses=errors(403),
)
async def change(body: TenantSettings, auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    if not auth.key.is_admin:
        raise Forbidden(
            "changing the tenant's settings needs an admin key (scopix-server keys create --admin)"
        )
    tenant = await session.merge(auth.tenant)
    tenant.safety_threshold = body.safety_threshold
    await session.commit()
    return _settings(tenant.safety_threshold)
