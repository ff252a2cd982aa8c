"""Waiting for server-side work: poll a status until it is terminal or the time runs out."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._exceptions import ScopixTimeoutError

__all__ = ["poll_until"]

T = TypeVar("T")


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    interval: float,
    timeout: float,
    what: str,
    on_progress: Callable[[T], object] | None = None,
) -> T:
    """Call ``fetch`` every ``interval`` seconds until ``done(result)``; the last result.

    Raises ``ScopixTimeoutError`` (with ``last_result``) once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await fetch()
        if on_progress is not None:
            on_progress(result)
        if done(result):
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise ScopixTimeoutError(
                f"{what} did not finish within {timeout:g} s (raise polling_timeout, or pass "
                "timeout=, to wait longer)",
                last_result=result,
            )
        await anyio.sleep(min(interval, left))
