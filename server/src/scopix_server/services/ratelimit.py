"""Requests per minute per API key (moving window), in memory or in Redis via ``limits``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from .quota import UNLIMITED

__all__ = ["ConcurrencyLimiter", "RateLimiter", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix seconds when the window has room again

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    def __init__(self, storage_url: str, *, period_seconds: int = 60) -> None:
        url = storage_url if storage_url.startswith("async+") else f"async+{storage_url}"
        options = {"implementation": "redispy"} if urlsplit(url).scheme.endswith("redis") else {}
        try:
            storage = storage_from_string(url, **options)
        except ConfigurationError as error:
            hint = (
                " (install it with: pip install 'scopix-server[redis]')" if "redis" in url else ""
            )
            setting = "SCOPIX_SERVER_RATE_LIMIT_STORAGE_URL"
            raise ValueError(f"{setting}={storage_url!r} cannot be used: {error}{hint}") from None
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._period = period_seconds

    async def aclose(self) -> None:
        """Close the connections of a Redis store (``limits`` itself offers no way to)."""
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()

    async def hit(self, key: str, per_minute: int | None) -> Verdict:
        """Count one request against ``per_minute`` (per configured period; None: unlimited)."""
        if per_minute is None:
            return Verdict(True, UNLIMITED, UNLIMITED, int(time.time()) + self._period)
        item = RateLimitItemPerSecond(per_minute, self._period)
        allowed = await self._limiter.hit(item, key)
        stats = await self._limiter.get_window_stats(item, key)
        return Verdict(allowed, per_minute, stats.remaining, int(stats.reset_time) + 1)


class ConcurrencyLimiter:
    """How many upload requests one API key has in flight (in this process)."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    def try_acquire(self, key: str, limit: int | None) -> bool:
        current = self._in_flight.get(key, 0)
        if limit is not None and current >= limit:
            return False
        self._in_flight[key] = current + 1
        return True

    def release(self, key: str) -> None:
        remaining = self._in_flight.get(key, 1) - 1
        if remaining > 0:
            self._in_flight[key] = remaining
        else:
            self._in_flight.pop(key, None)
