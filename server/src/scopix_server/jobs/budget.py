"""The time budget of one job: after it, the job ends ``failed`` instead of holding its worker.

The pipeline cancels what it awaits once the budget is spent; work running in a thread cannot be
cancelled from outside, so long loops in the steps (pages of a document) call ``check`` between
their units of work and stop there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..processing import StepError

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    seconds: float
    deadline: float  # on the time.monotonic() clock

    @classmethod
    def start(cls, seconds: float) -> Budget:
        return cls(seconds, time.monotonic() + seconds)

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(float("inf"), float("inf"))

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def spent(self, doing: str = "") -> StepError:
        where = f" ({doing})" if doing else ""
        return StepError(
            f"processing stopped after its time budget of {self.seconds:g} s{where}; an "
            "administrator can raise SCOPIX_SERVER_JOB_TIMEOUT_SECONDS",
            "resource_limit",
        )

    def check(self, doing: str = "") -> None:
        """Raise the budget's ``StepError`` once the deadline has passed."""
        if time.monotonic() >= self.deadline:
            raise self.spent(doing)
