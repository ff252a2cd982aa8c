"""Tenants and their API keys."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import generate_key, parse_key, verify_key
from ..db.models import ApiKey, Tenant, utcnow
from ..ids import canonical_id
from .tiers import TIERS

__all__ = [
    "CreatedKey",
    "authenticate",
    "create_key",
    "get_or_create_tenant",
    "list_keys",
    "revoke_key",
]


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    tenant: Tenant
    key: str  # the full key, shown once


def _check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    return tier


async def get_or_create_tenant(
    session: AsyncSession, name: str, *, tier: str | None, default_tier: str
) -> Tenant:
    """The tenant called ``name``, created if new; ``tier`` (when given) is applied either way."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a tenant name is 1-100 characters")
    tenant = await session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name, tier=_check_tier(tier or default_tier))
        session.add(tenant)
        await session.flush()
    elif tier is not None:
        tenant.tier = _check_tier(tier)
    return tenant


async def create_key(
    session: AsyncSession, tenant: Tenant, *, name: str, admin: bool = False
) -> CreatedKey:
    generated = generate_key()
    row = ApiKey(
        tenant_id=tenant.id,
        key_id=generated.key_id,
        secret_hash=generated.secret_hash,
        name=name,
        is_admin=admin,
    )
    session.add(row)
    await session.flush()
    return CreatedKey(row=row, tenant=tenant, key=generated.key)


async def list_keys(
    session: AsyncSession, tenant_id: str, *, limit: int, offset: int
) -> tuple[list[ApiKey], int]:
    """One page of a tenant's keys, oldest first, and how many there are."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(ApiKey.created_at, ApiKey.id).limit(limit).offset(offset)
    return list(await session.scalars(page)), total


async def revoke_key(session: AsyncSession, ref: str, *, tenant_id: str | None = None) -> ApiKey:
    """Revoke a key given its id or its prefix (``scopix_Ab12CdEf``). Raises ``LookupError``."""
    key_id = ref.removeprefix("scopix_")
    query = select(ApiKey).where(
        (ApiKey.id == (canonical_id(ref) or ref)) | (ApiKey.key_id == key_id)
    )
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    row = await session.scalar(query)
    if row is None:
        raise LookupError(f"no API key {ref!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


async def authenticate(session: AsyncSession, key: str) -> tuple[ApiKey, Tenant] | None:
    """The active key and its tenant for a presented key, or ``None``."""
    key_id = parse_key(key)
    if key_id is None:
        return None
    found = (
        await session.execute(
            select(ApiKey, Tenant)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_id == key_id)
        )
    ).first()  # one round trip for both, on every request
    if found is None:
        return None
    row, tenant = found
    if not verify_key(key, row.secret_hash) or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return row, tenant
