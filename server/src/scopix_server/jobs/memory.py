"""Process memory held in check: a shared budget for large work, a cap per work process, and
freed heap handed back to the OS.

Three causes of a server that grew by gigabytes over a corpus run, and stayed there:

- Workers decoded (and ran OCR) at the same time, and a decode of a large image in a format
  without a reduced decode costs its full size (a 284-byte BLP claiming 1x83,886,338 pixels cost
  670 MB before it failed). The work processes (``isolation``) ask the server for their turn
  under one budget first: ``Gate`` is what a step waits at.
- Some decoders ask for far more than any header tells (an 1 KB ICNS asked for 8 GB):
  ``cap_data`` is the hard bound of each work process.
- glibc keeps freed memory in its arenas instead of returning it: ``release_freed()``
  (``malloc_trim``) after each job and each call gives it back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

__all__ = ["DECODE_MEMORY_SETTING", "Gate", "cap_data", "data_bytes", "release_freed"]

DECODE_MEMORY_SETTING = "SCOPIX_SERVER_DECODE_MEMORY_BYTES"  # the budget's setting


class Gate(Protocol):
    """Where work of estimated ``cost`` bytes waits for its turn (in a work process: the
    server's budget, asked over the pipe). One costing more than ``budget`` is given the whole
    budget: it waits until nothing else runs."""

    budget: int

    def hold(self, cost: int) -> AbstractContextManager[None]: ...


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
