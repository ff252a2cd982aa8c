"""Monthly upload quota per tenant: checked before an upload is accepted, counted after.

A tier without a monthly cap reports ``UNLIMITED`` (2**31 - 1) as its limit and availability, so
that clients can compare numbers without special cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Tenant, UsageCounter, utcnow
from ..errors import QuotaExceeded
from .tiers import limits_for

__all__ = ["UNLIMITED", "check_quota", "quota_info", "record_uploads"]

UNLIMITED = 2**31 - 1


def period_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


async def _usage(session: AsyncSession, tenant_id: str) -> int:
    used = await session.scalar(
        select(UsageCounter.uploads).where(
            UsageCounter.tenant_id == tenant_id, UsageCounter.period == period_of(utcnow())
        )
    )
    return used or 0


async def quota_info(session: AsyncSession, tenant: Tenant, file_count: int) -> dict[str, object]:
    """The body of ``GET /uploads/quota-check`` (the SDK's ``QuotaInfo``)."""
    limits = limits_for(tenant.tier)
    used = await _usage(session, tenant.id)
    if limits.monthly_uploads is None:
        monthly_limit, available = UNLIMITED, UNLIMITED
        message = f"No monthly upload limit ({tenant.tier} tier)"
    else:
        monthly_limit = limits.monthly_uploads
        available = max(0, monthly_limit - used)
        message = (
            f"{available} of {monthly_limit} monthly uploads left"
            if file_count <= available
            else f"{file_count} uploads requested but only {available} of {monthly_limit} "
            "monthly uploads left; the quota resets on the 1st of next month (UTC)"
        )
    return {
        "can_proceed": file_count <= available,
        "requested": file_count,
        "available": available,
        "monthly_limit": monthly_limit,
        "current_usage": used,
        "message": message,
        "max_batch_size": limits.max_batch_size,
        "prepaid_credits": 0,
        "max_concurrent_uploads": limits.concurrent_uploads,
    }


async def check_quota(session: AsyncSession, tenant: Tenant, file_count: int) -> None:
    """Raise 403 ``QUOTA_EXCEEDED`` unless ``file_count`` more uploads fit this month."""
    info = await quota_info(session, tenant, file_count)
    if not info["can_proceed"]:
        raise QuotaExceeded(
            str(info["message"]),
            details={
                "available": info["available"],
                "limit": info["monthly_limit"],
                "requested": file_count,
            },
        )


async def record_uploads(session: AsyncSession, tenant_id: str, count: int) -> None:
    """Count accepted uploads (in the caller's transaction)."""
    if count <= 0:
        return
    period = period_of(utcnow())
    counter = await session.get(UsageCounter, (tenant_id, period))
    if counter is None:
        session.add(UsageCounter(tenant_id=tenant_id, period=period, uploads=count))
    else:
        counter.uploads += count
