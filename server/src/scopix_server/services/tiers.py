"""Tiers and their limits (the documented per-tier table). ``None`` means unlimited."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TIERS", "TierLimits", "limits_for"]


@dataclass(frozen=True)
class TierLimits:
    requests_per_minute: int | None
    concurrent_uploads: int | None
    max_batch_size: int | None
    monthly_uploads: int | None  # accepted uploads per calendar month
    monthly_chat_messages: int | None  # chat questions answered per calendar month


TIERS: dict[str, TierLimits] = {
    "free": TierLimits(10, 10, 10, 10, 50),
    "starter": TierLimits(30, 20, 50, 500, 1_000),
    "professional": TierLimits(100, 30, 100, 2_500, 5_000),
    "enterprise": TierLimits(500, 50, 200, 10_000, 20_000),
    "custom": TierLimits(None, None, None, None, None),
}


def limits_for(tier: str) -> TierLimits:
    return TIERS.get(tier, TIERS["custom"])
