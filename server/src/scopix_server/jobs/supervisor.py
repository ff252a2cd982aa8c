"""The worker processes of ``serve``: started with the API, restarted when they end, stopped
with it.

A decoder, model or provider client that crashes or bloats takes down a worker process, never
the API. Each child is ``scopix-server worker --supervised``: it reads its settings as the first
line of its standard input and then keeps that pipe open as its link to the API process:

- a line on it wakes the child's idle workers (a job was just committed: the embedded queue
  starts it at once instead of at the next poll);
- its end (the API process stopped or died) stops the child, which hands back its jobs.

A child that ends on its own (a crash, a kill, the memory bound of ``worker_memory_bytes``:
exit status 75) is started again after a second; one that keeps ending within a minute of its
start waits twice as long each time (up to half a minute). The memory of each child (its own
and that of its work processes) is sampled for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from ..tasks import cancel_and_wait

__all__ = [
    "MEMORY_EXIT",
    "WorkerReport",
    "WorkerSupervisor",
    "descendants",
    "process_rss",
    "tree_rss",
]

logger = logging.getLogger("scopix_server.supervisor")

MEMORY_EXIT = 75  # a worker past its memory bound stops with this status (EX_TEMPFAIL)
_STEADY_SECONDS = 60.0  # a child that ran this long is restarted without waiting
_MAX_PAUSE = 30.0
_STOP_GRACE = 15.0  # SIGTERM lets jobs under way hand themselves back; then SIGKILL


def process_rss(pid: int) -> int:
    """Resident bytes of ``pid`` (0 where ``/proc`` does not say)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found.extend(int(x) for x in (task / "children").read_text().split())
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """The processes under ``pid``, parents before their children (Linux; else none)."""
    found: list[int] = []
    pending = _children(pid)
    while pending:
        current = pending.pop(0)
        if current not in found:
            found.append(current)
            pending.extend(_children(current))
    return found


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 where ``/proc`` does not say)."""
    return sum(process_rss(each) for each in [pid, *descendants(pid)])


@dataclass
class WorkerReport:
    """What ``/metrics`` says of one worker process."""

    slot: int
    pid: int | None
    rss_bytes: int
    restarts: int
    memory_stops: int
    last_exit: int | None


@dataclass
class _Slot:
    number: int
    concurrency: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    memory_stops: int = 0
    pause: float = 1.0
    not_before: float = 0.0
    last_exit: int | None = None
    rss: int = 0


class WorkerSupervisor:
    """``jobs`` at a time shared by up to ``processes`` children, for the app's lifetime."""

    def __init__(
        self, settings: Settings, *, jobs: int, processes: int, check_seconds: float = 1.0
    ) -> None:
        self._settings = settings
        self._check = check_seconds
        count = max(1, min(processes, jobs))
        self._slots = [
            _Slot(number, concurrency=jobs // count + (1 if number <= jobs % count else 0))
            for number in range(1, count + 1)
        ]
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def size(self) -> int:
        return sum(slot.concurrency for slot in self._slots)

    def start(self) -> None:
        for slot in self._slots:
            self._spawn(slot)
        self._task = asyncio.create_task(self._watch(), name="scopix-worker-supervisor")

    def wake(self) -> None:
        """Wake the children's idle workers (a job was committed)."""
        for slot in self._slots:
            process = slot.process
            if process is None or process.stdin is None or process.poll() is not None:
                continue
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError, ValueError):
                os.write(process.stdin.fileno(), b"\n")

    def report(self) -> list[WorkerReport]:
        return [
            WorkerReport(
                slot=slot.number,
                pid=slot.process.pid if slot.process and slot.process.poll() is None else None,
                rss_bytes=slot.rss,
                restarts=slot.restarts,
                memory_stops=slot.memory_stops,
                last_exit=slot.last_exit,
            )
            for slot in self._slots
        ]

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)
        self._task = None
        await asyncio.to_thread(self._stop_all)

    # --- the children ---

    def _spawn(self, slot: _Slot) -> None:
        command = [
            sys.executable, "-m", "scopix_server", "worker", "--supervised",
            "--concurrency", str(slot.concurrency),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdin=subprocess.PIPE, start_new_session=True)
        assert process.stdin is not None
        line = json.dumps(self._settings.model_dump(mode="json")).encode() + b"\n"
        try:
            process.stdin.write(line)
            process.stdin.flush()
        except BrokenPipeError:
            pass  # (it died at once: the next check restarts it)
        fd = process.stdin.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        slot.process, slot.started = process, time.monotonic()
        logger.info("worker process %d started (pid %d)", slot.number, process.pid)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._check)
            now = time.monotonic()
            for slot in self._slots:
                process = slot.process
                if process is not None and process.poll() is None:
                    slot.rss = await asyncio.to_thread(tree_rss, process.pid)
                    continue
                if process is not None:
                    self._ended(slot, process, now)
                if now >= slot.not_before:
                    try:
                        self._spawn(slot)
                        slot.restarts += 1
                    except OSError:
                        logger.exception("could not start worker process %d", slot.number)
                        slot.not_before = now + slot.pause

    def _ended(self, slot: _Slot, process: subprocess.Popen[bytes], now: float) -> None:
        code = process.returncode
        slot.process, slot.last_exit, slot.rss = None, code, 0
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        if code == MEMORY_EXIT:
            slot.memory_stops += 1
            reason = (
                f"went past its memory bound ({self._settings.worker_memory_bytes} bytes, "
                "SCOPIX_SERVER_WORKER_MEMORY_BYTES)"
            )
        elif code is not None and code < 0:
            reason = f"was killed by {signal.Signals(-code).name}"
        else:
            reason = f"ended with status {code}"
        if now - slot.started >= _STEADY_SECONDS:
            slot.pause = 1.0
        slot.not_before = now + slot.pause  # (one that keeps ending waits longer each time)
        slot.pause = min(slot.pause * 2, _MAX_PAUSE)
        logger.warning(
            "worker process %d (pid %d) %s; starting it again", slot.number, process.pid, reason
        )

    def _stop_all(self) -> None:
        running = [
            slot.process for slot in self._slots if slot.process and slot.process.poll() is None
        ]
        for process in running:
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()  # (the end of the pipe stops it, as SIGTERM does)
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker process (pid %d) did not stop; killing it", process.pid)
                process.kill()
                process.wait()
        for slot in self._slots:
            slot.process = None
