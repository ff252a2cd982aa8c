"""Monthly upload quota per tenant: checked before an upload is stored, counted (and decided)
in the transaction that records it.

A tier without a monthly cap reports ``UNLIMITED`` (2**31 - 1) as its limit and availability, so
that clients can compare numbers without special cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.dialect import insert
from ..db.models import File, Tenant, UsageCounter, utcnow
from ..errors import QuotaExceeded
from .tiers import limits_for

__all__ = [
    "UNLIMITED",
    "check_quota",
    "overview",
    "quota_info",
    "record_uploads",
    "refund_chat_message",
    "reserve_chat_message",
]

UNLIMITED = 2**31 - 1


def period_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


async def _usage(session: AsyncSession, tenant_id: str, column: str = "uploads") -> int:
    used = await session.scalar(
        select(getattr(UsageCounter, column)).where(
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


async def overview(session: AsyncSession, tenant: Tenant) -> dict[str, object]:
    """The body of ``GET /tenant``: who, the tier's limits, and this month's and the library's
    usage (files and bytes of the originals not deleted)."""
    limits = limits_for(tenant.tier)
    files, stored = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(File.size_bytes), 0)).where(
                File.tenant_id == tenant.id, File.deleted_at.is_(None)
            )
        )
    ).one()
    return {
        "id": tenant.id,
        "name": tenant.name,
        "subscription_tier": tenant.tier,
        "created_at": tenant.created_at,
        "safety_threshold": tenant.safety_threshold,
        "limits": {
            "requests_per_minute": limits.requests_per_minute,
            "concurrent_uploads": limits.concurrent_uploads,
            "max_batch_size": limits.max_batch_size,
            "monthly_uploads": limits.monthly_uploads,
            "monthly_chat_messages": limits.monthly_chat_messages,
        },
        "usage": {
            "period": period_of(utcnow()),
            "uploads_this_month": await _usage(session, tenant.id),
            "chat_messages_this_month": await _usage(session, tenant.id, "chat_messages"),
            "files": int(files),
            "bytes_stored": int(stored),
        },
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


async def record_uploads(session: AsyncSession, tenant: Tenant, count: int) -> None:
    """Count ``count`` accepted uploads in the caller's transaction, or refuse them all (403)
    if they would take the tenant past its monthly cap.

    One conditional ``UPDATE`` decides, so concurrent requests (and server processes) can never
    pass the cap together: each one's increment re-checks the count that the others committed.
    ``check_quota`` before storing anything is only the early, friendly refusal.
    """
    if count <= 0:
        return
    period = period_of(utcnow())
    increment = (
        update(UsageCounter)
        .where(UsageCounter.tenant_id == tenant.id, UsageCounter.period == period)
        .values(uploads=UsageCounter.uploads + count)
    )
    cap = limits_for(tenant.tier).monthly_uploads
    if cap is not None:
        increment = increment.where(UsageCounter.uploads + count <= cap)
    counted = await session.execute(increment)
    if getattr(counted, "rowcount", 0) != 1:  # the month's first upload, or past the cap
        await session.execute(
            insert(session, UsageCounter)
            .values(tenant_id=tenant.id, period=period, uploads=0)
            .on_conflict_do_nothing(index_elements=[UsageCounter.tenant_id, UsageCounter.period])
        )
        counted = await session.execute(increment)
    if getattr(counted, "rowcount", 0) != 1:
        await check_quota(session, tenant, count)  # (raises with the numbers)
        raise QuotaExceeded(  # (only if another request's count was rolled back meanwhile)
            f"{count} uploads would pass the monthly limit of {cap}; try again",
            details={"limit": cap, "requested": count},
        )


async def reserve_chat_message(session: AsyncSession, tenant: Tenant) -> None:
    """Count one chat question this month in the caller's transaction, or refuse it (403) past
    the tier's limit; one conditional ``UPDATE`` decides, as for uploads."""
    period = period_of(utcnow())
    increment = (
        update(UsageCounter)
        .where(UsageCounter.tenant_id == tenant.id, UsageCounter.period == period)
        .values(chat_messages=UsageCounter.chat_messages + 1)
    )
    cap = limits_for(tenant.tier).monthly_chat_messages
    if cap is not None:
        increment = increment.where(UsageCounter.chat_messages < cap)
    counted = await session.execute(increment)
    if getattr(counted, "rowcount", 0) != 1:  # the month's first count, or past the cap
        await session.execute(
            insert(session, UsageCounter)
            .values(tenant_id=tenant.id, period=period, uploads=0, chat_messages=0)
            .on_conflict_do_nothing(index_elements=[UsageCounter.tenant_id, UsageCounter.period])
        )
        counted = await session.execute(increment)
    if getattr(counted, "rowcount", 0) != 1:
        raise QuotaExceeded(
            f"the {tenant.tier} tier's {cap} chat messages of this month are used; the count "
            "resets on the 1st of next month (UTC)",
            details={"limit": cap, "requested": 1, "available": 0},
        )


async def refund_chat_message(session: AsyncSession, tenant_id: str) -> None:
    """Give back the question of a turn that was not answered (in the caller's transaction)."""
    await session.execute(
        update(UsageCounter)
        .where(
            UsageCounter.tenant_id == tenant_id,
            UsageCounter.period == period_of(utcnow()),
            UsageCounter.chat_messages > 0,
        )
        .values(chat_messages=UsageCounter.chat_messages - 1)
    )
