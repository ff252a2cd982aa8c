"""A cancellation is never lost: not by the helper that stops a task, nor by the queue's wait
(a worker pool's ``stop()`` once hung for good on a worker loop that lost its cancellation)."""

from __future__ import annotations

import asyncio

import pytest

from scopix_server.tasks import cancel_and_wait


async def _slow_to_stop(stopped: asyncio.Event) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)  # (a job handed back on the way out)
        stopped.set()
        raise


def test_the_callers_cancellation_while_it_waits_is_kept() -> None:
    async def main() -> None:
        stopped = asyncio.Event()
        inner = asyncio.create_task(_slow_to_stop(stopped))
        await asyncio.sleep(0)
        outer = asyncio.create_task(cancel_and_wait(inner))
        await asyncio.sleep(0.05)  # the outer task now waits for the inner one to end
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        await asyncio.wait_for(stopped.wait(), 5)  # ... which still ends

    asyncio.run(main())


def test_the_tasks_own_failure_is_returned_not_raised() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    async def main() -> None:
        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        assert isinstance(await cancel_and_wait(task), ValueError)
        assert await cancel_and_wait(None) is None
        done = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        assert await cancel_and_wait(done) is None and done.cancelled()

    asyncio.run(main())


def test_a_worker_told_to_stop_as_it_is_woken_stops() -> None:
    """The queue's wait is cancelled in the same turn as a job arrives: the cancellation wins
    (asyncio.wait_for before 3.12 returned instead, and the worker polled on forever)."""
    from scopix_server.jobs.queue import DatabaseQueue

    async def main() -> None:
        queue = DatabaseQueue(None, lease_seconds=30)  # type: ignore[arg-type]
        for _ in range(50):
            waiting = asyncio.create_task(queue.wait(10))
            await asyncio.sleep(0)
            queue.notify()  # a job arrives ...
            waiting.cancel()  # ... as the worker is told to stop
            with pytest.raises(asyncio.CancelledError):
                await waiting
        woken = asyncio.create_task(queue.wait(10))
        await asyncio.sleep(0)
        queue.notify()
        await asyncio.wait_for(woken, 1)  # (and a plain wake-up still wakes it)

    asyncio.run(main())
