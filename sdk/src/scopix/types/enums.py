"""String enums of the API."""

from __future__ import annotations

from enum import Enum

__all__ = ["DescriptionStatus", "StorageTarget"]


class DescriptionStatus(str, Enum):
    """State of AI description generation for a file.

    ``pending`` -> ``queued`` -> ``processing`` -> ``completed`` | ``failed`` | ``skipped``
    (skipped: a duplicate, or ``auto_describe=False``).
    """

    PENDING = "pending"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        """True once the status can no longer change by itself."""
        return self in (
            DescriptionStatus.COMPLETED,
            DescriptionStatus.FAILED,
            DescriptionStatus.SKIPPED,
        )

    @classmethod
    def parse(cls, value: object, default: DescriptionStatus | None = None) -> DescriptionStatus:
        """The member for an API value; unknown or missing values give ``default`` (PENDING)."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            return default if default is not None else cls.PENDING


class StorageTarget(str, Enum):
    """Where uploaded bytes are stored."""

    DEFAULT = "default"  # the platform's storage
    CUSTOM = "custom"  # the tenant's own S3 bucket
