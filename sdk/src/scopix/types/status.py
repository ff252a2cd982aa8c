"""Status types: one file's processing, and a batch upload session's progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._convert import (
    int_or,
    opt_bool,
    opt_dict_list,
    opt_float,
    opt_int,
    opt_str,
    parse_datetime,
    to_dict,
)
from .enums import DescriptionStatus
from .files import id_of

__all__ = ["ProcessingStatus", "SessionProgress"]


@dataclass(frozen=True)
class ProcessingStatus:
    """Where a file's processing stands (``files.get_processing_status``)."""

    file_id: str
    media_type: str | None = None  # image | document | video
    status: str | None = None  # processing | completed | failed
    description_status: DescriptionStatus = DescriptionStatus.PENDING
    variant_status: str | None = None
    text_extraction_status: str | None = None  # documents only
    page_count: int | None = None
    chunk_count: int | None = None
    description_error: str | None = None
    description_error_type: str | None = None
    description_is_retryable: bool | None = None
    # providers that failed while others described the file: [{provider, error_type, message}]
    provider_errors: list[dict[str, Any]] = field(default_factory=list)
    # indexing for search by meaning: pending, queued, processing, completed, failed, skipped
    embedding_status: str | None = None
    embedding_error: str | None = None
    is_terminal: bool = False  # every step is completed, failed or skipped
    updated_at: datetime | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ProcessingStatus:
        return cls(
            file_id=id_of(data, "file_id", "id"),
            media_type=opt_str(data.get("media_type")),
            status=opt_str(data.get("status")),
            description_status=DescriptionStatus.parse(data.get("description_status")),
            variant_status=opt_str(data.get("variant_status")),
            text_extraction_status=opt_str(data.get("text_extraction_status")),
            page_count=opt_int(data.get("page_count")),
            chunk_count=opt_int(data.get("chunk_count")),
            description_error=opt_str(data.get("description_error")),
            description_error_type=opt_str(data.get("description_error_type")),
            description_is_retryable=opt_bool(data.get("description_is_retryable")),
            provider_errors=opt_dict_list(data.get("provider_errors")) or [],
            embedding_status=opt_str(data.get("embedding_status")),
            embedding_error=opt_str(data.get("embedding_error")),
            is_terminal=data.get("is_terminal") is True,
            updated_at=parse_datetime(data.get("updated_at")),
        )


@dataclass(frozen=True)
class SessionProgress:
    """How far the files of one batch upload request are (``files.wait_for_session``)."""

    session_id: str
    status: str  # processing | completed | failed | cancelled
    total_files: int = 0
    completed_files: int = 0
    failed_files: int = 0
    skipped_files: int = 0
    pending_files: int = 0
    progress_percentage: float = 0.0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """No file of the session is waiting or being processed any more."""
        return self.status in ("completed", "failed", "cancelled")

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> SessionProgress:
        return cls(
            session_id=id_of(data, "session_id", "id"),
            status=opt_str(data.get("status")) or "processing",
            total_files=int_or(data.get("total_files"), 0),
            completed_files=int_or(data.get("completed_files"), 0),
            failed_files=int_or(data.get("failed_files"), 0),
            skipped_files=int_or(data.get("skipped_files"), 0),
            pending_files=int_or(data.get("pending_files"), 0),
            progress_percentage=opt_float(data.get("progress_percentage")) or 0.0,
            created_at=parse_datetime(data.get("created_at")),
            updated_at=parse_datetime(data.get("updated_at")),
        )
