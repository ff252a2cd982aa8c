"""Functions that the isolation tests run in work processes (importable there by name)."""

from __future__ import annotations

import os
import signal
import time

from scopix_server.processing import StepError


def pid() -> int:
    return os.getpid()


def fail(message: str, error_type: str) -> None:
    raise StepError(message, error_type, step="decode", retry_after=7.0)


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)  # as a decoder that reads past its buffer


def hog(size: int) -> int:
    """Allocate and touch ``size`` bytes."""
    return len(bytearray(size))


def sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
