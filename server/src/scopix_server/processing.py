"""The vocabulary of work on a file, shared by ``jobs/`` (which runs the steps) and
``providers/`` (which the steps call): the facts of a decoded image, and how a step fails.

How a step fails: a message for the user, a type, and whether a retry can help. The types are
API.md §5's ``description_error_type`` values: ``timeout``, ``rate_limit`` and ``vlm_error`` are
retryable; ``validation`` and ``resource_limit`` are permanent; ``unknown`` is not retried (a bug
does not fix itself by running again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = ["RETRYABLE", "ImageFacts", "StepError"]


RETRYABLE = frozenset({"timeout", "rate_limit", "vlm_error"})
ERROR_TYPES = RETRYABLE | {"validation", "resource_limit", "unknown"}


class StepError(Exception):
    """A classified failure of one step (the message is shown to the file's owner)."""

    def __init__(
        self,
        message: str,
        error_type: str = "unknown",
        *,
        step: str = "",
        retry_after: float | None = None,
    ) -> None:
        if error_type not in ERROR_TYPES:
            raise ValueError(f"unknown error type {error_type!r}")
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.step = step
        self.retry_after = retry_after  # what the failing service asked for (Retry-After)

    def __reduce__(self) -> tuple[object, ...]:
        # pickled whole (it crosses from the work processes): type, step and delay included
        return (type(self), (self.message, self.error_type), self.__dict__.copy())

    @property
    def retryable(self) -> bool:
        return self.error_type in RETRYABLE

    def __str__(self) -> str:
        return f"{self.step}: {self.message}" if self.step else self.message


@dataclass(frozen=True)
class ImageFacts:
    width: int  # of the full image, upright
    height: int
    format: str  # e.g. "jpeg", "png", "heif"
    frames: int
    content_created_at: datetime | None
    camera: str | None

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        moment = self.content_created_at
        values["content_created_at"] = None if moment is None else moment.isoformat()
        return values

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> ImageFacts:
        moment = stored.get("content_created_at")
        return cls(
            width=int(stored["width"]),
            height=int(stored["height"]),
            format=str(stored["format"]),
            frames=int(stored.get("frames") or 1),
            content_created_at=None if moment is None else datetime.fromisoformat(moment),
            camera=stored.get("camera"),
        )
