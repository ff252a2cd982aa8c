"""Background processing: the durable job queue, the worker pool and the pipeline."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engines import Processing, Workers, open_processing, open_queue, open_workers
    from .pipeline import Outcome, Pipeline
    from .queue import ClaimedJob, DatabaseQueue, Enqueuer, JobQueue
    from .worker import WorkerPool

__all__ = [
    "ClaimedJob",
    "DatabaseQueue",
    "Enqueuer",
    "JobQueue",
    "Outcome",
    "Pipeline",
    "Processing",
    "WorkerPool",
    "Workers",
    "open_processing",
    "open_queue",
    "open_workers",
]

_HOMES = {
    "Outcome": "pipeline",
    "Pipeline": "pipeline",
    "ClaimedJob": "queue",
    "DatabaseQueue": "queue",
    "Enqueuer": "queue",
    "open_queue": "engines",
    "open_processing": "engines",
    "open_workers": "engines",
    "Processing": "engines",
    "Workers": "engines",
    "JobQueue": "queue",
    "WorkerPool": "worker",
}


def __getattr__(name: str) -> Any:
    # Imported on first use: a decoder process imports the image steps, not the database.
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
