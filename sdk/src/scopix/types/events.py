"""Events passed to the progress callbacks of uploads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._convert import to_dict
from .upload import UploadResult

__all__ = ["FileCompleteEvent", "UploadProgressEvent"]


@dataclass(frozen=True)
class UploadProgressEvent:
    """Bytes of one file sent so far (``on_progress``)."""

    file_index: int  # 0-based position in the input
    uploaded_bytes: int
    total_bytes: int  # 0 when the size is not known beforehand
    filename: str | None = None

    @property
    def progress_percent(self) -> float:
        if self.total_bytes <= 0:
            return 0.0
        return min(100.0, 100.0 * self.uploaded_bytes / self.total_bytes)

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)


@dataclass(frozen=True)
class FileCompleteEvent:
    """One file of a batch has its result (``on_file_complete``)."""

    file_index: int
    result: UploadResult

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)
