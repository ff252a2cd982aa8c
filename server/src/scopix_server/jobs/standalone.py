"""``scopix-server worker``: a process that runs jobs only (no API), on either queue.

It opens what processing needs (the database, storage, description providers, embedder and
work processes) and runs the workers of the settings' queue (the embedded one or Procrastinate)
until it is asked to stop: SIGTERM or SIGINT, the end of its link to ``serve`` (``supervised``:
see ``supervisor``), or its memory past ``worker_memory_bytes``. Stopping lets the jobs under
way finish for a few seconds and hands the others back.

Its memory is watched from a thread, so that a job holding the event loop cannot hide it; past
the bound the worker stops with status 75, and ``serve`` (or systemd's ``Restart=``) starts a
fresh one. A worker that does not stop within ``_MEMORY_GRACE`` seconds ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence

from ..db.migrate import upgrade
from ..db.session import create_engine, create_sessionmaker
from ..providers.embedding import build_embedder
from ..services.retention import purge_now
from ..settings import Settings
from ..storage import open_storage
from .engines import open_processing, open_queue, open_workers
from .memory import release_freed
from .supervisor import MEMORY_EXIT, process_rss

__all__ = ["read_supervised_settings", "run_worker"]

logger = logging.getLogger("scopix_server.worker")

_MEMORY_GRACE = 30.0


def read_supervised_settings() -> Settings:
    """The settings ``serve`` wrote as the first line of this child's standard input."""
    line = sys.stdin.buffer.readline()
    if not line:
        raise SystemExit("scopix-server worker --supervised: no settings on standard input")
    return Settings.model_validate_json(line)


class _MemoryWatch:
    """Samples this process's resident memory (its work processes have bounds of their own:
    ``job_memory_bytes``); past ``bound`` calls ``stop`` once, and ends
    the process if it is still there ``_MEMORY_GRACE`` seconds later."""

    def __init__(self, bound: int, stop: Callable[[], None], every: float = 1.0) -> None:
        self.bound, self.peak = bound, 0
        self._stop, self._every = stop, every
        self.exceeded = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="scopix-memory-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(self._every):
            rss = process_rss(os.getpid())
            self.peak = max(self.peak, rss)
            if rss <= self.bound:
                continue
            if not self.exceeded:
                release_freed()  # (freed heap counts until it is handed back)
                if process_rss(os.getpid()) <= self.bound:
                    continue
                self.exceeded = True
                logger.error(
                    "worker memory %d MiB is past its bound of %d MiB "
                    "(SCOPIX_SERVER_WORKER_MEMORY_BYTES): handing the jobs back and stopping",
                    rss >> 20,
                    self.bound >> 20,
                )
                self._stop()
                if self._done.wait(_MEMORY_GRACE):
                    return
                logger.error("worker did not stop within %.0f s; ending it", _MEMORY_GRACE)
                os._exit(MEMORY_EXIT)


async def run_worker(
    settings: Settings,
    *,
    concurrency: int,
    queues: Sequence[str] | None = None,
    supervised: bool = False,
) -> int:
    """Run jobs until asked to stop; the exit status (75: stopped past the memory bound)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop_soon() -> None:  # (from the memory watch's thread)
        loop.call_soon_threadsafe(stopping.set)

    watch = _MemoryWatch(settings.worker_memory_bytes, stop_soon)
    engine = create_engine(settings.resolved_database_url)
    embedder = build_embedder(settings)
    processing = None
    try:
        await upgrade(engine)
        store = open_storage(settings.resolved_storage_url, settings)
        sessions = create_sessionmaker(engine)
        if embedder is not None:
            await embedder.start()
        queue = open_queue(settings, sessions)
        processing = open_processing(
            settings,
            sessions=sessions,
            storage=store,
            queue=queue,
            embedder=embedder,
            workers=concurrency,
        )

        async def housekeeping() -> None:
            await purge_now(sessions, store, retention_days=settings.retention_days)

        workers = open_workers(
            settings,
            queue,
            processing.pipeline.run,
            concurrency=concurrency,
            housekeeping=housekeeping,
            queues=queues,
        )
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stopping.set)
        if supervised:
            _follow_parent(loop, queue.notify, stopping.set)
        watch.start()
        workers.start()
        logger.info(
            "worker %s:%d: %d jobs at a time on %s (memory bound %d MiB)",
            socket.gethostname(),
            os.getpid(),
            concurrency,
            ", ".join(queues) if queues else "every queue",
            settings.worker_memory_bytes >> 20,
        )
        await stopping.wait()
        await workers.stop()
        logger.info("worker %d stopped (peak memory %d MiB)", os.getpid(), watch.peak >> 20)
        return MEMORY_EXIT if watch.exceeded else 0
    finally:
        watch.close()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
        if processing is not None:
            await processing.aclose()
        if embedder is not None:
            await embedder.aclose()
        await engine.dispose()


def _follow_parent(
    loop: asyncio.AbstractEventLoop, wake: Callable[[], None], stop: Callable[[], None]
) -> None:
    """Each line on standard input wakes the workers; its end (``serve`` stopped) stops them."""
    fd = sys.stdin.fileno()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            wake()
            return
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(fd)
        stop()

    loop.add_reader(fd, readable)
