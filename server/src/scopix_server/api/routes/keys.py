"""``/api-keys``: managing the tenant's keys (admin keys only). A new key is shown once."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...auth.keys import key_prefix
from ...db.models import ApiKey, utcnow
from ...errors import Conflict, Forbidden, NotFound, ValidationFailed
from ...schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, ApiKeyList, page
from ...services.tenants import create_key, list_keys, revoke_key
from ..deps import Auth, AuthDep, SessionDep, StateDep
from ..openapi import errors
from ..replay import idempotent

__all__ = ["router"]

router = APIRouter(tags=["api-keys"])

MAX_KEY_METADATA = 8 * 1024


def _admin(auth: Auth) -> None:
    if not auth.key.is_admin:
        raise Forbidden("managing API keys needs an admin key (scopix-server keys create --admin)")


def key_info(row: ApiKey) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "scopes": list(row.scopes or []),
        "metadata": dict(row.key_metadata or {}),
        "key_prefix": key_prefix(row.key_id),
        "is_admin": row.is_admin,
        "is_active": row.revoked_at is None and (row.expires_at is None or row.expires_at > now),
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "expires_at": row.expires_at,
    }


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create a key",
    responses=errors(409),
)
async def create(
    body: ApiKeyCreate, request: Request, auth: AuthDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    _admin(auth)
    # Never replayed: the answer holds the key in clear, which is stored nowhere. A repeat creates
    # nothing and says where to look instead.
    request_body = body.model_dump(mode="json")
    async with idempotent(request, session, state, auth, "api_keys.create", request_body) as replay:
        if replay.answer is not None:
            raise Conflict(
                "a key was already created with this Idempotency-Key; it is shown only once, so "
                "list the keys (GET /api-keys) to find it, or revoke it and create another",
                details={"idempotency_key": request.headers.get("idempotency-key")},
            )
        if body.expires_at is not None and body.expires_at <= utcnow():
            raise ValidationFailed("expires_at must be in the future")
        if len(json.dumps(body.metadata)) > MAX_KEY_METADATA:
            raise ValidationFailed(f"metadata: at most {MAX_KEY_METADATA} bytes as JSON")
        created = await create_key(session, auth.tenant, name=body.name, admin=body.admin)
        created.row.expires_at = body.expires_at
        created.row.description = body.description
        created.row.scopes = sorted(set(body.scopes))
        created.row.key_metadata = body.metadata
        await replay.remember(session, 201, {"id": created.row.id, "note": "key not kept"})
        await session.commit()
        return {**key_info(created.row), "api_key": created.key}


@router.get("/api-keys", response_model=ApiKeyList, summary="List the tenant's keys")
async def list_(
    auth: AuthDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    _admin(auth)
    rows, total = await list_keys(session, auth.tenant.id, limit=limit, offset=offset)
    return page([key_info(row) for row in rows], total=total, limit=limit, offset=offset)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyInfo, summary="Revoke a key")
async def revoke(key_id: str, auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    _admin(auth)
    try:
        row = await revoke_key(session, key_id, tenant_id=auth.tenant.id)
    except LookupError:
        raise NotFound(
            f"API key {key_id} not found",
            details={"resource_type": "api_key", "resource_id": key_id},
        ) from None
    await session.commit()
    return key_info(row)
