"""Upload types: ``UploadResult``, ``BatchUploadResults`` and ``QuotaInfo``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from .._convert import (
    int_or,
    opt_bool,
    opt_dict_list,
    opt_float,
    opt_int,
    opt_str,
    opt_str_list,
    parse_datetime,
    to_dict,
)
from .._exceptions import DescriptionError
from .enums import DescriptionStatus

__all__ = ["UploadResult", "BatchUploadResults", "QuotaInfo"]


@dataclass(frozen=True)
class UploadResult:
    """Result of a successful upload operation."""

    image_id: str  # Unique identifier
    filename: str  # Original filename
    description: Optional[str] = None  # AI-generated description
    tags: Optional[list[str]] = None  # AI-extracted tags
    visible_text: Optional[str] = None  # OCR-extracted text
    # Structured OCR entries with normalized (0-1) bounding boxes
    text_regions: Optional[list[dict[str, Any]]] = None
    # Always null for descriptions; populated for extractions/rules
    confidence_score: Optional[float] = None
    # PENDING, COMPLETED, FAILED, etc.
    description_status: DescriptionStatus = DescriptionStatus.PENDING
    thumbnail_url: Optional[str] = None  # URL to thumbnail
    created_at: Optional[datetime] = None  # Upload timestamp
    description_error: Optional[str] = None  # Error message if failed
    description_error_type: Optional[str] = None  # Error classification
    description_is_retryable: Optional[bool] = None  # Whether retry is possible
    # v2.0.0: populated by presigned/multipart completion; None for streaming uploads
    deduplicated: Optional[bool] = None  # True if the file matched an existing content hash
    media_type: Optional[str] = None  # "image" | "document" | "video" | "link"
    status: Optional[str] = None  # "processing" | "completed" — upload status, not description
    object_key: Optional[str] = None  # S3 storage key (presigned/multipart only)

    @property
    def file_id(self) -> str:
        """The file's id: the same value as ``image_id`` (for every media type)."""
        return self.image_id

    @property
    def is_failed(self) -> bool:
        return self.description_status is DescriptionStatus.FAILED

    @property
    def is_completed(self) -> bool:
        return self.description_status is DescriptionStatus.COMPLETED

    @property
    def is_pending(self) -> bool:
        """Description not finished yet: pending, queued or processing."""
        return not self.description_status.is_terminal

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (enum values as strings, ``created_at`` as ISO-8601)."""
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> UploadResult:
        """Parse an upload record or file details object of the API."""
        image_id = data.get("image_id") or data.get("id") or data.get("file_id")
        if not isinstance(image_id, str) or not image_id:
            raise ValueError(f"upload record has no image_id: keys {sorted(data)}")
        filename = opt_str(data.get("filename")) or opt_str(data.get("original_filename")) or ""
        status = opt_str(data.get("status"))
        default_status = (
            DescriptionStatus.SKIPPED
            if data.get("skipped") is True or status == "skipped"
            else DescriptionStatus.PENDING
        )
        return cls(
            image_id=image_id,
            filename=filename,
            description=opt_str(data.get("description")),
            tags=opt_str_list(data.get("tags")),
            visible_text=opt_str(data.get("visible_text")),
            text_regions=opt_dict_list(data.get("text_regions")),
            confidence_score=opt_float(data.get("confidence_score")),
            description_status=DescriptionStatus.parse(
                data.get("description_status"), default_status
            ),
            thumbnail_url=opt_str(data.get("thumbnail_url")),
            created_at=parse_datetime(data.get("created_at")),
            description_error=opt_str(data.get("description_error")),
            description_error_type=opt_str(data.get("description_error_type")),
            description_is_retryable=opt_bool(data.get("description_is_retryable")),
            deduplicated=opt_bool(data.get("deduplicated")),
            media_type=opt_str(data.get("media_type")),
            status=status,
            object_key=opt_str(data.get("object_key")),
        )


def _is_duplicate_skip(result: UploadResult) -> bool:
    return result.description_status is DescriptionStatus.SKIPPED and (
        result.status == "skipped" or result.deduplicated is True
    )


class BatchUploadResults(list[UploadResult]):
    """List of ``UploadResult`` with convenience methods, in the order the files were given.

    Each result falls in exactly one group: *failed* (description or upload failed), *pending*
    (description not finished), *skipped* (a duplicate that was not stored again) or *succeeded*
    (everything else: described, or stored with ``auto_describe=False``).
    """

    def __init__(self, results: Iterable[UploadResult] = ()) -> None:
        super().__init__(results)
        self.ignored: list[str] = []  # directory entries left out: not a supported file type

    # --- groups ---

    def failed(self) -> list[UploadResult]:
        return [r for r in self if r.is_failed]

    def pending(self) -> list[UploadResult]:
        return [r for r in self if r.is_pending]

    def skipped(self) -> list[UploadResult]:
        """Duplicates that were skipped instead of stored again."""
        return [r for r in self if _is_duplicate_skip(r)]

    def succeeded(self) -> list[UploadResult]:
        return [r for r in self if not (r.is_failed or r.is_pending or _is_duplicate_skip(r))]

    def retryable(self) -> list[UploadResult]:
        """Failed results whose failure may go away on a retry."""
        return [r for r in self if r.is_failed and r.description_is_retryable is True]

    # --- counts ---

    @property
    def has_failures(self) -> bool:
        return any(r.is_failed for r in self)

    @property
    def failed_count(self) -> int:
        return len(self.failed())

    @property
    def succeeded_count(self) -> int:
        return len(self.succeeded())

    @property
    def pending_count(self) -> int:
        return len(self.pending())

    @property
    def skipped_count(self) -> int:
        return len(self.skipped())

    def raise_on_failures(self) -> BatchUploadResults:
        """Raise ``DescriptionError`` if any result failed; otherwise return ``self``."""
        failures = self.failed()
        if not failures:
            return self
        first = failures[0]
        reason = first.description_error or "no error message"
        raise DescriptionError(
            f"{len(failures)} of {len(self)} uploads failed ({self.summary()}); "
            f"first: {first.filename or first.image_id}: {reason}",
            image_id=first.image_id,
            status=DescriptionStatus.FAILED.value,
            details={
                "failures": [
                    {
                        "image_id": r.image_id,
                        "filename": r.filename,
                        "error": r.description_error,
                        "error_type": r.description_error_type,
                        "retryable": r.description_is_retryable,
                    }
                    for r in failures
                ]
            },
        )

    def summary(self) -> str:
        """One line such as ``"3 succeeded, 1 failed"`` (pending and skipped shown when present)."""
        text = f"{self.succeeded_count} succeeded, {self.failed_count} failed"
        if self.pending_count:
            text += f", {self.pending_count} pending"
        if self.skipped_count:
            text += f", {self.skipped_count} skipped"
        return text

    def __repr__(self) -> str:
        return f"BatchUploadResults({len(self)} results: {self.summary()})"


@dataclass(frozen=True)
class QuotaInfo:
    """Upload quota information."""

    can_proceed: bool  # Whether upload can proceed
    requested: int  # Number of uploads requested
    available: int  # Uploads still available
    monthly_limit: int  # Total monthly limit
    current_usage: int  # Current month's usage
    message: Optional[str] = None  # Quota status message
    max_batch_size: Optional[int] = None  # Max files per batch (tier-dependent)
    prepaid_credits: int = 0  # Prepaid credit balance beyond monthly plan
    max_concurrent_uploads: Optional[int] = None  # Max concurrent uploads (tier-dependent)

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> QuotaInfo:
        """Parse the body of ``GET /uploads/quota-check``."""
        if not isinstance(data.get("can_proceed"), bool):
            raise ValueError(f"quota response has no boolean can_proceed: keys {sorted(data)}")
        return cls(
            can_proceed=data["can_proceed"],
            requested=int_or(data.get("requested"), 0),
            available=int_or(data.get("available"), 0),
            monthly_limit=int_or(data.get("monthly_limit"), 0),
            current_usage=int_or(data.get("current_usage"), 0),
            message=opt_str(data.get("message")),
            max_batch_size=opt_int(data.get("max_batch_size")),
            prepaid_credits=int_or(data.get("prepaid_credits"), 0),
            max_concurrent_uploads=opt_int(data.get("max_concurrent_uploads")),
        )
