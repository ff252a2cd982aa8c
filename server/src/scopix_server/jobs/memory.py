"""Process memory held in check: large decodes share a budget; freed heap goes back to the OS.

Two causes of a server that grew by gigabytes over a corpus run, and stayed there:

- Workers decode at the same time, and a decode of a large image in a format without a reduced
  decode costs its full size (more for the formats Pillow decodes in Python: a 284-byte BLP
  claiming 1x83,886,338 pixels cost 670 MB before it failed). ``DecodeGate`` lets decodes run
  together only while their estimated costs fit one budget; one larger than it runs alone.
- glibc keeps freed memory in its per-thread arenas (worker threads come and go) instead of
  returning it: ``release_freed()`` (``malloc_trim``) after each job gives it back.

The work runs in child processes (``isolation``): there decodes and OCR ask the server for their
turn under one budget, and ``cap_data`` is the hard bound of each child, for the decoders whose
cost no header tells.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

__all__ = ["DecodeGate", "Gate", "cap_data", "data_bytes", "release_freed"]


class Gate(Protocol):
    """Where a decode of estimated ``cost`` bytes waits for its turn (``DecodeGate`` or the
    server's, asked from a decoder process)."""

    def hold(self, cost: int) -> AbstractContextManager[None]: ...


class DecodeGate:
    """Bytes of decodes in flight, across the worker threads, held under ``budget``."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._used = 0
        self._changed = threading.Condition()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        cost = max(0, min(cost, self.budget))  # one larger than the budget waits to run alone
        with self._changed:
            self._changed.wait_for(lambda: self._used + cost <= self.budget)
            self._used += cost
        try:
            yield
        finally:
            with self._changed:
                self._used -= cost
                self._changed.notify_all()


def data_bytes() -> int:
    """This process's data segment now (heap and private mappings: what ``RLIMIT_DATA`` counts);
    0 where the system does not say (no ``/proc``)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    return 0


def cap_data(extra: int) -> int:
    """Let this process's data grow by at most ``extra`` bytes more; returns the cap set, or 0
    where it cannot be set (not Linux).

    Past it an allocation fails: Python raises ``MemoryError``, and a C decoder that cannot
    cope ends the process, which the parent sees (only this process is lost).
    """
    now = data_bytes()
    if not now:
        return 0
    try:
        import resource  # (POSIX only)

        resource.setrlimit(resource.RLIMIT_DATA, (now + extra, now + extra))
    except (ImportError, ValueError, OSError):
        return 0
    return now + extra


def _libc_trim() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _libc_trim()


def release_freed() -> bool:
    """Return the heap's free pages to the OS (every arena); False where there is no way to."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
