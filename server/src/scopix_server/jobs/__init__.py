"""Background processing: the durable job queue, the worker pool and the pipeline."""

from __future__ import annotations

from .errors import StepError
from .pipeline import Outcome, Pipeline
from .queue import ClaimedJob, DatabaseQueue, JobQueue
from .worker import WorkerPool

__all__ = [
    "ClaimedJob",
    "DatabaseQueue",
    "JobQueue",
    "Outcome",
    "Pipeline",
    "StepError",
    "WorkerPool",
]
