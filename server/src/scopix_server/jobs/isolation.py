"""The work on a file's bytes runs in child processes: a decoder that crashes or bloats costs
one child and fails one file, never the server.

Decoders and renderers parse hostile bytes in C (libtiff, openjpeg, libheif, pdfium...). Some
ask for far more memory than any header says (an 1 KB ICNS asked for 8 GB), some crash, some
loop. So decoding, variants, OCR and text extraction run in ``size`` child processes:

- each child's data segment is capped (``RLIMIT_DATA``, ``memory_bytes`` past its start): an
  allocation past it fails, and the file fails with a ``resource_limit`` error that names the
  setting; a child that dies is replaced, and only the file it was working on fails;
- a job whose time budget runs out has its child killed, so no work goes on after the deadline;
- the estimated costs of large decodes and of OCR share one budget across the children
  (``decode_budget``): a child asks the server for its turn before it starts one, and an image
  whose whole decode alone would cost more than the budget is refused before it is decoded;
- a child idle for ``idle_seconds`` exits (with the OCR engine and whatever its heap kept), and
  one that has done ``tasks_per_child`` calls is replaced: memory goes back to the OS after a
  burst instead of staying with the server.

Children are started with ``spawn`` (a fresh interpreter: no threads or locks inherited from the
server) and import only what the work needs. ``call(func, *args)`` runs a module-level function
there; a ``StepError`` it raises comes back as itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from ..processing import StepError
from .memory import cap_data, release_freed

__all__ = ["WorkProcesses", "memory_gate"]

logger = logging.getLogger("scopix_server.isolation")
T = TypeVar("T")
MiB = 1024 * 1024
MEMORY_SETTING = "SCOPIX_SERVER_JOB_MEMORY_BYTES"


# --- the parent: a budget for estimated decode costs, shared by the children ---


class _CostBudget:
    """Estimated bytes of decodes and OCR in flight across the children, held under ``budget``
    (in the server; one larger than the budget waits to run alone)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._waiters: list[asyncio.Future[None]] = []

    async def take(self, cost: int) -> int:
        cost = max(0, min(cost, self.budget))  # one larger than the budget waits to run alone
        while self.used + cost > self.budget:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self.used += cost
        return cost

    def give(self, cost: int) -> None:
        self.used -= cost
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


# --- a child ---


@dataclass
class _Child:
    slot: int
    process: BaseProcess
    conn: Connection
    calls: int = 0
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)

    def stop(self) -> None:
        """Kill it (idle or stuck: nothing of value is in it) and reap it without waiting."""
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.kill()
        threading.Thread(target=self.process.join, args=(10,), daemon=True).start()


def _over_memory(memory_bytes: int, *, step: str = "", detail: str = "") -> StepError:
    return StepError(
        f"processing needed more than the {memory_bytes // MiB:,} MiB of memory a job may use"
        f"{detail}; an administrator can raise {MEMORY_SETTING}",
        "resource_limit",
        step=step,
    )


def _exit_reason(code: int | None, memory_bytes: int) -> StepError:
    if code is not None and code in (-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGILL):
        return StepError(
            "the file crashed the decoder that read it (it is damaged, or made to attack "
            "decoders); nothing else was affected",
            "validation",
        )
    return _over_memory(memory_bytes, detail=f" (or its process was ended; exit code {code})")


class WorkProcesses:
    """``size`` child processes, started on first use, that run the blocking work of jobs."""

    def __init__(
        self,
        *,
        size: int,
        memory_bytes: int,
        decode_budget: int,
        idle_seconds: float = 30.0,
        tasks_per_child: int = 200,
    ) -> None:
        self.size = max(1, size)
        self.memory_bytes = memory_bytes
        self.idle_seconds = idle_seconds
        self.tasks_per_child = tasks_per_child
        self._context = multiprocessing.get_context("spawn")
        self._costs = _CostBudget(decode_budget)
        # one thread per child waits for its answers (the loop's default pool may be smaller)
        self._readers = ThreadPoolExecutor(self.size, thread_name_prefix="scopix-work-answers")
        self._children: list[_Child | None] = [None] * self.size
        self._free: asyncio.Queue[int] | None = None
        self._closed = False

    @property
    def running(self) -> int:
        """Children alive now."""
        return sum(1 for child in self._children if child is not None)

    def _slots(self) -> asyncio.Queue[int]:
        if self._free is None:
            self._free = asyncio.Queue()
            for slot in range(self.size):
                self._free.put_nowait(slot)
        return self._free

    def _start(self, slot: int) -> _Child:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(theirs, self.memory_bytes, self._costs.budget),
            name=f"scopix-work-{slot}",
            daemon=True,
        )
        process.start()
        theirs.close()
        child = _Child(slot, process, ours)
        self._children[slot] = child
        return child

    def _drop(self, child: _Child) -> None:
        if self._children[child.slot] is child:
            self._children[child.slot] = None
        child.stop()

    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` in a child; its ``StepError`` is raised here."""
        if self._closed:
            raise StepError("the server is stopping", "timeout")
        slots = self._slots()
        slot = await slots.get()
        child = self._children[slot]
        try:
            if child is None:
                child = self._start(slot)
            child.busy = True
            outcome = await self._exchange(child, (func, args, kwargs))
            child.calls += 1
            if child.calls >= self.tasks_per_child:
                self._drop(child)  # a fresh one next time: no fragmentation carried along
        except BaseException:
            # cancelled (the job's time ran out, or the server stops) or broken mid-call: the
            # child may be in the middle of the work; it is ended, and nothing goes on after
            if child is not None:
                self._drop(child)
            raise
        finally:
            if child is not None:
                child.busy = False
                child.last_used = time.monotonic()
                self._retire_later(child)
            slots.put_nowait(slot)
        kind, value = outcome
        if kind == "failed":
            raise value
        result: T = value
        return result

    async def _exchange(self, child: _Child, request: Any) -> tuple[str, Any]:
        held = 0
        try:
            child.conn.send(request)
            while True:
                try:
                    message = await asyncio.get_running_loop().run_in_executor(
                        self._readers, child.conn.recv
                    )
                except (EOFError, OSError):  # it died: ended by its cap, crashed, killed
                    self._costs.give(held)
                    held = 0
                    await asyncio.get_running_loop().run_in_executor(None, child.process.join, 5)
                    error = _exit_reason(child.process.exitcode, self.memory_bytes)
                    logger.warning("a work process ended mid-job: %s", error)
                    self._drop(child)
                    return "failed", error
                if message[0] == "cost":  # a decode (or OCR) asks for its turn
                    held = await self._costs.take(message[1])
                    child.conn.send("go")
                    continue
                if message[0] == "free":  # ... and is over
                    self._costs.give(held)
                    held = 0
                    continue
                return message  # type: ignore[no-any-return]
        finally:
            self._costs.give(held)

    def _retire_later(self, child: _Child) -> None:
        def retire() -> None:
            idle = time.monotonic() - child.last_used
            if not child.busy and idle >= self.idle_seconds and self._children[child.slot] is child:
                self._drop(child)  # memory it held goes back to the OS

        with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
            asyncio.get_running_loop().call_later(self.idle_seconds + 0.05, retire)

    def close(self) -> None:
        self._closed = True
        for child in self._children:
            if child is not None:
                self._drop(child)
        self._readers.shutdown(wait=False, cancel_futures=True)


# --- in the child ---

_PARENT: Connection | None = None
_BUDGET = 0


class _ParentGate:
    """The server's memory budget, asked over the pipe (a child runs one call at a time)."""

    def __init__(self, conn: Connection, budget: int) -> None:
        self._conn = conn
        self.budget = budget

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        self._conn.send(("cost", cost))
        if self._conn.recv() != "go":
            raise StepError("the server did not give the decode its turn", "unknown")
        try:
            yield
        finally:
            self._conn.send(("free",))


def memory_gate() -> _ParentGate | None:
    """In a child, the gate that large decodes and OCR wait at; None elsewhere (the server)."""
    return _ParentGate(_PARENT, _BUDGET) if _PARENT is not None else None


def _run(raw: bytes, memory_bytes: int) -> tuple[str, Any]:
    """Read a call and make it; a failure is answered as a ``StepError``."""
    try:
        func, args, kwargs = pickle.loads(raw)
        return "done", func(*args, **kwargs)
    except StepError as error:
        if isinstance(error.__context__, MemoryError):  # a step's own "not enough memory"
            return "failed", _over_memory(memory_bytes, step=error.step)
        return "failed", error
    except MemoryError:
        return "failed", _over_memory(memory_bytes)
    except Exception as error:  # a bug, or a call that cannot be read here
        logger.exception("work in a child process failed")
        return "failed", StepError(f"internal error ({type(error).__name__})", "unknown")


def _serve(conn: Connection, memory_bytes: int, decode_budget: int) -> None:
    """The child's loop: one call at a time, until the server closes the pipe."""
    global _PARENT, _BUDGET
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which ends us
    _PARENT, _BUDGET = conn, decode_budget
    cap_data(memory_bytes)
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        answer = _run(raw, memory_bytes)
        del raw
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return
        del answer
        release_freed()
