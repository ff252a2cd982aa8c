"""Stopping an asyncio task without losing the caller's own cancellation.

``with suppress(CancelledError): await task`` after ``task.cancel()`` looks right, but if the
*caller* is cancelled while it waits there, its CancelledError is swallowed too: the caller
carries on as if nothing happened, and whoever cancelled it waits for it forever (a worker
pool's ``stop()`` hung on a worker loop that went on claiming jobs). ``asyncio.wait`` never
raises the task's own exception, only the caller's cancellation, so the two cannot be confused.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(
    task: asyncio.Task[Any] | asyncio.Future[Any] | None,
) -> BaseException | None:
    """Cancel ``task`` and wait until it has ended; returns the exception it ended with, other
    than its cancellation (the caller's own cancellation propagates)."""
    if task is None:
        return None
    task.cancel()
    await asyncio.wait({task})
    return None if task.cancelled() else task.exception()
