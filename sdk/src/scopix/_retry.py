"""The retry policy: which failures are retried, and how long to wait before each retry.

Pure functions and a frozen policy object, so every rule is tested without sleeping:

* Retried: ``RateLimitError`` (429), ``ServerError`` (5xx), ``ScopixConnectionError`` and
  ``ScopixTimeoutError``. Nothing else: other 4xx answers would fail the same way again. Nor an
  answer with ``X-Should-Retry: false``: the server knows that this one would fail alike (a chat
  turn that spent its budget, say), and a retry would only do the work again.
* Delay before retry *n* (0-based): ``retry_delay * 2**n``, capped at ``MAX_RETRY_DELAY`` (or at
  ``retry_delay`` when that is larger), then stretched by a random jitter of up to
  ``RETRY_JITTER`` (10 %). With the defaults: about 1 s, 2 s, 4 s.
* A ``Retry-After`` header (seconds or an HTTP date) replaces the computed delay exactly. If it asks
  for more than ``MAX_RETRY_AFTER`` seconds, the client does not wait inside the call: it raises the
  error at once, and ``RateLimitError.retry_after`` tells the caller when to come back.
"""

from __future__ import annotations

import email.utils
import math
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._constants import MAX_RETRY_AFTER, MAX_RETRY_DELAY, RETRY_JITTER
from ._exceptions import (
    RateLimitError,
    ScopixConnectionError,
    ScopixError,
    ScopixTimeoutError,
    ServerError,
)

__all__: list[str] = []

RETRYABLE_ERRORS: tuple[type[ScopixError], ...] = (
    RateLimitError,
    ServerError,
    ScopixConnectionError,
    ScopixTimeoutError,
)


def is_retryable(error: BaseException) -> bool:
    """Whether the client retries this error by itself."""
    return isinstance(error, RETRYABLE_ERRORS)


def is_retryable_status(status_code: int) -> bool:
    """429 and 5xx are transient; every other status is final."""
    return status_code == 429 or 500 <= status_code <= 599


def should_retry(header: str | None) -> bool:
    """``False`` only when the server said ``X-Should-Retry: false``."""
    return header is None or header.strip().lower() != "false"


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value.

    Accepts delta-seconds (``"3"``, also ``"1.5"``) and HTTP dates
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``). A date in the past gives 0. Returns ``None`` when the
    value is absent or unreadable, so the caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT, even when it fails to say so
            return None
        return max(0.0, when.timestamp() - now())
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(
    retry_number: int,
    *,
    base: float,
    cap: float = MAX_RETRY_DELAY,
    jitter: float = RETRY_JITTER,
    random: Callable[[], float] = _random.random,
) -> float:
    """Delay before retry ``retry_number`` (0 for the first retry): doubling, capped, jittered."""
    ceiling = max(cap, base)
    # Clamp the exponent first: 2**1100 overflows a float.
    raw = base * (2.0 ** min(retry_number, 64))
    return min(raw, ceiling) * (1.0 + jitter * random())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry (from ``ClientConfig.max_retries`` and ``retry_delay``)."""

    max_retries: int
    retry_delay: float
    max_delay: float = MAX_RETRY_DELAY
    jitter: float = RETRY_JITTER
    max_retry_after: float = MAX_RETRY_AFTER
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)

    def next_delay(
        self, retry_number: int, error: BaseException, *, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait before retry ``retry_number`` after ``error``, or ``None`` to give up."""
        if retry_number >= self.max_retries or not is_retryable(error):
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return backoff_delay(
            retry_number,
            base=self.retry_delay,
            cap=self.max_delay,
            jitter=self.jitter,
            random=self.random,
        )
